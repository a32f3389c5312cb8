# A reset service without its .service suffix.
# expect: gpu-01.invalid: $.mig_reset_services[0]: 'nvsm' is not a service unit name (letters, digits, @ . _ -, ending in .service)
hosts = [("gpu-01.invalid", {"mig_reset_services": ["nvsm"]})]
