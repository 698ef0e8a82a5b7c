"""The former home of the toy world, now :mod:`thrifty.toy_world` in the core (data builders and eval both use it; the
dependency direction of DESIGN.md forbids them to import each other). This name stays importable for existing
code and is the same module object, so attributes, private helpers and monkeypatching behave identically."""

import sys

from thrifty import toy_world as _module

sys.modules[__name__] = _module
