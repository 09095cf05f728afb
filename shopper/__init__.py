"""shopper: a mystery-shopper tester for government agency websites."""

__version__ = "0.1.0"

from shopper.clock import Clock, SimulatedClock, SystemClock, get_clock, set_clock, use_clock
from shopper.errors import ShopperError

__all__ = [
    "__version__",
    "Clock",
    "SimulatedClock",
    "SystemClock",
    "ShopperError",
    "get_clock",
    "set_clock",
    "use_clock",
]
