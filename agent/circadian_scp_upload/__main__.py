"""``python -m circadian_scp_upload``: the agent's command line."""

from .cli import entry_point

entry_point()
