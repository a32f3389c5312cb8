# a stand-in model file
