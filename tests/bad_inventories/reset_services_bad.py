# A misspelt reset service (no such unit: nothing would be stopped), and a template unit; a
# service of the site's own passes.
# expect: gpu-01.invalid: $.mig_reset_services[0]: unknown service 'nvidia-persistanced.service' (did you mean nvidia-persistenced.service?)
# expect: gpu-01.invalid: $.mig_reset_services[1]: 'dcgm-exporter@.service' is a template unit, which cannot be stopped or started itself: name an instance, such as dcgm-exporter@NAME.service
hosts = [("gpu-01.invalid", {"mig_reset_services": ["nvidia-persistanced.service", "dcgm-exporter@.service", "my-gpu-agent.service"]})]
