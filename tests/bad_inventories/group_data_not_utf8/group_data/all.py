# Site settings.
gpu_models = ["NVIDIA H100 80GB HBM3"]
site_name = "Montréal"
