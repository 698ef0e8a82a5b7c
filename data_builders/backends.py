"""The former home of the LLM backends, now :mod:`thrifty.backends` in the core (data builders and eval both use it; the
dependency direction of DESIGN.md forbids them to import each other). This name stays importable for existing
code and is the same module object, so attributes, private helpers and monkeypatching behave identically."""

import sys

from thrifty import backends as _module

sys.modules[__name__] = _module
