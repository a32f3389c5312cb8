# A key inside triton_docker_args (a string, not a list) is never printed.
# expect: gpu-01.invalid: $.triton_docker_args: (value hidden) is not of type 'array'
hosts = [("gpu-01.invalid", {"triton_docker_args": "-e NGC_API_KEY=nvapi-Abc123secretvalue"})]
