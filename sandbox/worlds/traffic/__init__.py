"""Traffic family: the highway world, its drivers, and the AV testing harness.

Importing the package registers the world ``"highway"``, the policies
``"naturalistic"`` (background), ``"idm_mobil"`` and ``"av_fleet"`` (AV), and the
testing methods as background policies (``"nde"``, ``"nade"``, ``"nade_adaptive"``,
``"d2rl"``, from :mod:`sandbox.worlds.traffic.testing.methods`). The Mesa reference
model (:mod:`sandbox.worlds.traffic.reference`) is imported on demand.
"""

from sandbox.core.registry import POLICIES, WORLDS
from sandbox.worlds.traffic.highway import HighwayWorld
from sandbox.worlds.traffic.params import AV_DRIVER, BACKGROUND_DRIVER, DriverParams, HighwayParams
from sandbox.worlds.traffic.policies import FleetPolicy, IdmMobilPolicy, NaturalisticPolicy
from sandbox.worlds.traffic.state import HighwayState

WORLDS.register("highway", HighwayWorld)
POLICIES.register("naturalistic", NaturalisticPolicy)
POLICIES.register("idm_mobil", IdmMobilPolicy)
POLICIES.register("av_fleet", FleetPolicy)

# the testing methods (background policies "nde", "nade", "nade_adaptive", "d2rl")
from sandbox.worlds.traffic.testing.methods import FACTORIES as _TESTING_METHODS  # noqa: E402

for _name, _factory in _TESTING_METHODS.items():
    POLICIES.register(_name, _factory)

__all__ = [
    "AV_DRIVER", "BACKGROUND_DRIVER", "DriverParams", "HighwayParams", "HighwayState",
    "FleetPolicy", "HighwayWorld", "IdmMobilPolicy", "NaturalisticPolicy",
]
