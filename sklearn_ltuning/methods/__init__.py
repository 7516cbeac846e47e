"""The four methods: how label information (or none) enters the frozen backbone."""

from .base import MethodModule
from .lt_prefix import LTPrefix
from .lt_prompt import LTPrompt
from .prefix import PrefixTuning
from .prompt import PromptTuning

#: Method name -> module class.
METHODS = {
    "lt_prefix": LTPrefix,
    "lt_prompt": LTPrompt,
    "prefix": PrefixTuning,
    "prompt": PromptTuning,
}

__all__ = ["METHODS", "LTPrefix", "LTPrompt", "MethodModule", "PrefixTuning", "PromptTuning"]
