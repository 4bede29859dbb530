"""The console's data side (issue 17): read-only JSON views over the registry, the metrics, drift reports,
alarm state, notifications, A/B analysis and the audit log, served by the registry function under
``/v1/console/...`` (``mlops.console.routes``), and the OpenAPI document of the gateway's routes
(``mlops.console.openapi``). The route contract the browser side builds on is docs/console-api.md.

A services-level package: it reads the registry package and the core packages below it; the registry
package never imports it. The registry function wires both routers together (``mlops.console.app``).
"""
