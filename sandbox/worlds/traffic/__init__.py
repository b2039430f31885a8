"""Traffic family: the highway world, its drivers, and the AV testing harness.

Importing the package registers the world ``"highway"`` and the policies
``"naturalistic"`` (background) and ``"idm_mobil"`` (AV). The testing harness
(:mod:`sandbox.worlds.traffic.testing`) and the Mesa reference model
(:mod:`sandbox.worlds.traffic.reference`) are imported on demand.
"""

from sandbox.core.registry import POLICIES, WORLDS
from sandbox.worlds.traffic.highway import HighwayWorld
from sandbox.worlds.traffic.params import AV_DRIVER, BACKGROUND_DRIVER, DriverParams, HighwayParams
from sandbox.worlds.traffic.policies import IdmMobilPolicy, NaturalisticPolicy
from sandbox.worlds.traffic.state import HighwayState

WORLDS.register("highway", HighwayWorld)
POLICIES.register("naturalistic", NaturalisticPolicy)
POLICIES.register("idm_mobil", IdmMobilPolicy)

__all__ = [
    "AV_DRIVER", "BACKGROUND_DRIVER", "DriverParams", "HighwayParams", "HighwayState",
    "HighwayWorld", "IdmMobilPolicy", "NaturalisticPolicy",
]
