"""The smallest Dallinger experiment: what `make demo` deploys, and the test bed too.

No networks. Dallinger's defaults serve the ad, consent, participant and questionnaire
routes; two small pages of its own (templates/instructions/instruct-ready.html and
templates/exp.html) make a participant with Dallinger's JavaScript and lead on to the
questionnaire, so a participant can click through in a browser. One extra route,
GET /testbed/version, returns the image's EXPERIMENT_VERSION so tests can tell builds apart.
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
