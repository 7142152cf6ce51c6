"""IPL (Initial Program Load): the logged, timed start sequence of a BEDS node."""

from beds_actors.ipl.sequence import IplError, ipl
from beds_actors.ipl.system import System

__all__ = ["IplError", "System", "ipl"]
