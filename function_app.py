"""Composition root: the Durable Functions app and each package's blueprint, nothing else."""

import gc

import azure.durable_functions as df
import azure.functions as func

from generation.blueprint import bp as generation_bp
from generation.operations import bp as operations_bp
from line_webhook.blueprint import bp as line_bp
from status.blueprint import bp as status_bp
from web.blueprint import bp as web_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(generation_bp)
app.register_functions(status_bp)
app.register_functions(line_bp)
app.register_functions(operations_bp)
app.register_functions(web_bp)

# What importing the app left on the heap (the SDKs, their models: about 200,000 objects) lives as
# long as the process. Frozen, the collector's full passes skip it; otherwise each one walked it, for
# 90-250 ms on the development machine, while every request in flight waited (docs/performance.md).
gc.freeze()
