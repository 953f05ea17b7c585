"""A small PsyNet 13.3 experiment (dlgr-ansible's test bed, and an example): a page
shows an image (a cached asset, shared between deploys) and plays a tone (an
experiment asset, this deployment's own), and records what the participant typed."""

import psynet.experiment
from psynet.asset import asset
from psynet.consent import NoConsent
from psynet.modular_page import AudioPrompt, ImagePrompt, ModularPage, TextControl
from psynet.page import InfoPage
from psynet.timeline import Module, PageMaker, Timeline

picture = Module(
    "picture",
    PageMaker(
        lambda assets: ModularPage(
            "describe",
            ImagePrompt(assets["picture"], "What colour is this square?", "64px", "64px"),
            TextControl(),
            time_estimate=5,
        ),
        time_estimate=5,
    ),
    PageMaker(
        lambda assets: ModularPage(
            "tone",
            AudioPrompt(assets["tone"], "A short tone."),
            time_estimate=3,
        ),
        time_estimate=3,
    ),
    assets={
        "picture": asset("static/picture.png", cache=True),
        "tone": asset("static/tone.wav"),
    },
)


class Exp(psynet.experiment.Experiment):
    label = "dlgr-ansible PsyNet test"

    timeline = Timeline(
        NoConsent(),
        picture,
        InfoPage("Thank you.", time_estimate=1),
    )
