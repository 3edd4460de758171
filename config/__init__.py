"""Settings and data files (defaults, IVR menu, prompt texts) for the hotline."""
from config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
