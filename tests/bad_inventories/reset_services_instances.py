# An instance of a template unit is a unit like any other; the template itself cannot be stopped
# or started, and an instance needs its template's name.
# expect: gpu-01.invalid: $.mig_reset_services[1]: 'dcgm-exporter@.service' is a template unit, which cannot be stopped or started itself: name an instance, such as dcgm-exporter@NAME.service
# expect: gpu-01.invalid: $.mig_reset_services[2]: '@gpu0.service' is not a unit name: a template's instance is NAME@INSTANCE.service
hosts = [("gpu-01.invalid", {"mig_reset_services": ["dcgm-exporter@gpu0.service", "dcgm-exporter@.service",
                                                    "@gpu0.service", "nvidia-persistenced.service"]})]
