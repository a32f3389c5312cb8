# An error in group data is named by the group data file and line (this folder's group_data/).
# expect: tests/bad_inventories/group_data_error/group_data/gpu.py:3: KeyError: 'a100-40gb'
gpu = ["gpu-01.invalid"]
