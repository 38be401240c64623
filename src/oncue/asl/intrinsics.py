"""The 18 intrinsic functions of JSONPath states (``States.Format(...)`` and friends).

AWS Step Functions documentation, "Intrinsic functions for JSONPath states": an intrinsic is
written as the string value of a ``key.$`` field in a payload template, for example
``"States.Format('Hello, {}', $.name)"``. Its arguments are string literals in single quotes,
numbers, ``true``, ``false``, ``null``, paths (``$.x``, ``$$.x``, ``$var``) and nested
intrinsics (at most 10 deep in one field).

This module is the public face of two others: :mod:`oncue.asl.intrinsic_parser` parses a call
once per definition and catches what can be known without the input (an unknown function, a
wrong number of arguments, a literal of the wrong type, a ``States.Format`` whose literal
template has the wrong number of ``{}``); :mod:`oncue.asl.intrinsic_functions` holds the table
of functions and what each does. What depends on the input fails at run time with
``States.IntrinsicFailure``; a path that matches nothing raises ``PathNotFound`` so that the
payload template, which knows the field, words the ``States.Runtime`` cause.
"""

from __future__ import annotations

from oncue.asl.intrinsic_functions import FUNCTIONS, Signature
from oncue.asl.intrinsic_parser import (
    IntrinsicCall,
    IntrinsicSyntaxError,
    compile_intrinsic,
    is_intrinsic,
)

__all__ = [
    "FUNCTIONS",
    "IntrinsicCall",
    "IntrinsicSyntaxError",
    "Signature",
    "compile_intrinsic",
    "is_intrinsic",
]
