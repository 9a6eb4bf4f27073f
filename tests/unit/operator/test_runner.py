"""kopf configuration: our finalizer and annotation prefix, peering mode, and quiet timers."""

from __future__ import annotations

import logging

import kopf

from oblivion_operator.runner import QuietTimers, configure_kopf


def test_kopf_uses_our_finalizer_and_keeps_its_annotations_out_of_oblivion_dev() -> None:
    settings = configure_kopf(kopf.OperatorSettings(), standalone=False)
    assert settings.persistence.finalizer == "oblivion.dev/cleanup"
    assert settings.peering.name == "oblivion"
    assert settings.peering.mandatory is True
    assert settings.posting.loggers is True
    storage = settings.persistence.progress_storage
    assert isinstance(storage, kopf.AnnotationsProgressStorage)
    assert storage.prefix == "operator.oblivion.dev"


def test_standalone_mode_skips_peering() -> None:
    settings = configure_kopf(kopf.OperatorSettings(), standalone=True)
    assert settings.peering.standalone is True
    assert settings.peering.mandatory is False


def test_timer_success_lines_are_dropped_but_real_news_is_kept() -> None:
    quiet = QuietTimers()

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("kopf.objects", logging.INFO, __file__, 1, message, None, None)

    assert not quiet.filter(record("Timer 'agent-presence' succeeded."))
    assert quiet.filter(record("Handler 'agent-reconcile' succeeded."))
    assert quiet.filter(record("Created Deployment agent-backend-bot"))
