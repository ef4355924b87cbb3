"""What `make run` uses: a product on one machine, DEBUG off unless asked for.

`DJANGO_DEBUG=1 make run` turns DEBUG on for development (technical error pages with the
settings and URL list: never on a machine other people can reach).
"""

from config.env import env_bool
from config.settings.base import *  # noqa: F403

DEBUG = env_bool("DJANGO_DEBUG", False)
