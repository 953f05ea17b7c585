"""The smallest Dallinger experiment: what `make demo` deploys, and the test bed too.

No networks and no pages of its own: Dallinger's defaults serve the ad,
consent and participant routes. One extra route, GET /testbed/version,
returns the image's EXPERIMENT_VERSION so tests can tell builds apart.
"""

from pathlib import Path

from dallinger.experiment import Experiment
from flask import Blueprint, jsonify

VERSION_FILE = Path(__file__).with_name("VERSION")

extra_routes = Blueprint("extra_routes", __name__)


@extra_routes.route("/testbed/version")
def testbed_version():
    return jsonify(version=VERSION_FILE.read_text().strip())


class TestbedExperiment(Experiment):
    """Dallinger's base experiment as is: no networks, one participant recruited at launch."""
