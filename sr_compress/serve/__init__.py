"""``sr-serve``: an HTTP upscaling server over exported models (see docs/serve.md)."""

from .app import ServeConfig, create_app
from .limits import Limits, RequestError
from .models import ServedModel, load_served_model

__all__ = ["Limits", "RequestError", "ServeConfig", "ServedModel", "create_app", "load_served_model"]
