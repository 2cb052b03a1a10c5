"""biosig: wearable biosignal representations (bioFAME, NoTS, CPEP encoders) and the tools around them."""

from biosig.signals import Annotations, Recording, SignalInfo

__version__ = "0.1.0"

__all__ = ["Annotations", "Recording", "SignalInfo", "__version__"]
