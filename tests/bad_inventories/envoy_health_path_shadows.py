# A health path that is also a route elsewhere: Triton's API (under /v2), the metrics endpoint's, or
# one of Envoy's admin routes. Envoy's health filter would answer it on envoy_http_port. A path that
# only starts with those letters (/v2x, /readyz, /statsd) is a path of its own.
# expect: gpu-01.invalid: $.envoy_health_path: '/v2/health/ready' is under /v2, Triton's HTTP API: Envoy's health filter would answer it on envoy_http_port in Triton's place; give the health check a path of its own
# expect: gpu-02.invalid: $.envoy_health_path: '/v2?probe=1' is under /v2, Triton's HTTP API: Envoy's health filter would answer it on envoy_http_port in Triton's place; give the health check a path of its own
# expect: gpu-03.invalid: $.envoy_health_path: '/metrics' is the metrics endpoint's path (on metrics_port): Envoy's health filter would answer it on envoy_http_port, where a scrape would read health; give the health check a path of its own
# expect: gpu-04.invalid: $.envoy_health_path: '/healthcheck/fail' is Envoy's admin route /healthcheck/fail (on envoy_admin_port): Envoy's health filter would answer it on envoy_http_port, where a call meant for the admin would read health; give the health check a path of its own
# expect: gpu-05.invalid: $.envoy_health_path: '/stats/prometheus' is under Envoy's admin route /stats (on envoy_admin_port): Envoy's health filter would answer it on envoy_http_port, where a call meant for the admin would read health; give the health check a path of its own
hosts = [
    ("gpu-01.invalid", {"envoy_health_path": "/v2/health/ready"}),
    ("gpu-02.invalid", {"envoy_health_path": "/v2?probe=1"}),
    ("gpu-03.invalid", {"envoy_health_path": "/metrics"}),
    ("gpu-04.invalid", {"envoy_health_path": "/healthcheck/fail"}),
    ("gpu-05.invalid", {"envoy_health_path": "/stats/prometheus"}),
    ("gpu-06.invalid", {"envoy_health_path": "/v2x"}),
    ("gpu-07.invalid", {"envoy_health_path": "/readyz"}),
    ("gpu-08.invalid", {"envoy_health_path": "/statsd"}),
]
