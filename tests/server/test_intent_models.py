"""Versioned intent models: held-out scores, promote, roll back, and the runtime switching at once."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.intents import OUT_OF_SCOPE
from server.errors import BadRequest, NotFound
from server.intent_models import (
    _MemoEmbedder,
    list_models,
    plan_evaluation,
    promote_version,
    rollback,
    train_version,
)
from server.intent_training import add_example, store_examples, train
from server.tables import Bot, Intent, IntentExample
from tests.fakes import HashEmbedder
from tests.server.intent_helpers import HOURS, OOS, REFUND, TRACK, examples, new_bot


@pytest.fixture(autouse=True)
def frozen_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """Versioning is under test here, not the fine-tune (bot/intents tests and bench/ cover it): keep fits fast."""
    monkeypatch.setattr("server.intent_models.DEFAULT_METHOD", "frozen")


def classes(services, slug: str) -> list[str]:  # type: ignore[no-untyped-def]
    runtime = services.runtimes.get(slug)
    assert runtime.intents is not None
    return sorted(runtime.intents.classes)


def test_first_version_is_promoted_and_scored_on_held_out_data(demo_services) -> None:
    slug = new_bot(demo_services)
    steps: list[tuple[str, float]] = []
    report = train(demo_services.runtimes, slug, examples(track=TRACK, refund=REFUND, oos=OOS), promote=False,
                   progress=lambda message, fraction: steps.append((message, fraction)))
    assert report.version == 1 and report.status == "active"  # a bot's first model is promoted anyway
    assert (report.intents, report.examples, report.oos_examples) == (2, 12, 3)
    metrics = report.metrics
    assert metrics is not None and metrics["n"] == 15  # every example predicted once, by a model that never saw it
    assert {"accuracy", "macro_f1", "oos_recall", "in_scope_accuracy", "per_intent", "confusion"} <= set(metrics)
    assert sum(row["support"] for row in metrics["per_intent"].values()) == 15
    assert sum(n for row in metrics["confusion"].values() for n in row.values()) == 15
    fractions = [f for _, f in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 3
    assert classes(demo_services, slug) == ["refund", "track"]


def test_train_promote_rollback_switch_the_runtime(demo_services) -> None:
    registry, slug = demo_services.runtimes, new_bot(demo_services)
    train(registry, slug, examples(track=TRACK, refund=REFUND))
    assert classes(demo_services, slug) == ["refund", "track"]
    v2 = train(registry, slug, examples(track=TRACK, refund=REFUND, hours=HOURS), promote=False)
    assert v2.version == 2 and v2.status == "candidate"
    assert classes(demo_services, slug) == ["refund", "track"]  # a candidate is not served
    promote_version(registry, slug, 2)
    assert classes(demo_services, slug) == ["hours", "refund", "track"]
    assert registry.get(slug).intents.predict(["what time do you open on saturday"])[0].top == "hours"
    train(registry, slug, examples(track=TRACK, hours=HOURS))  # v3, promoted
    assert classes(demo_services, slug) == ["hours", "track"]
    assert rollback(registry, slug).version == 2
    assert classes(demo_services, slug) == ["hours", "refund", "track"]
    assert rollback(registry, slug).version == 1  # a second rollback goes one further back
    assert classes(demo_services, slug) == ["refund", "track"]
    with pytest.raises(BadRequest, match="nothing to go back to"):
        rollback(registry, slug)
    statuses = {m.version: m.status for m in list_models(registry, slug)}
    assert statuses == {3: "retired", 2: "retired", 1: "active"}
    with pytest.raises(NotFound):
        promote_version(registry, slug, 9)


def test_another_process_promoting_is_noticed(demo_services, monkeypatch: pytest.MonkeyPatch) -> None:
    import server.runtimes as runtimes
    from server.runtimes import RuntimeRegistry

    registry, slug = demo_services.runtimes, new_bot(demo_services)
    train(registry, slug, examples(track=TRACK, refund=REFUND))
    train(registry, slug, examples(track=TRACK, hours=HOURS), promote=False)
    assert classes(demo_services, slug) == ["refund", "track"]
    # another process (the CLI) has its own registry: its invalidate() cannot reach this one
    other = RuntimeRegistry(demo_services.settings, demo_services.engine, demo_services.embedders)
    promote_version(other, slug, 2)
    assert classes(demo_services, slug) == ["refund", "track"]  # checked at most every few seconds
    monkeypatch.setattr(runtimes, "CHANGE_CHECK_SECONDS", 0.0)
    assert classes(demo_services, slug) == ["hours", "track"]


def stored(services, slug: str) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with Session(services.engine) as session:
        bot = session.exec(select(Bot).where(Bot.slug == slug)).one()
        query = select(Intent.name, IntentExample.source).join(Intent).where(Intent.bot_id == bot.id)
        return set(session.exec(query).all())


def test_csv_replaces_csv_examples_only_and_oos_rows_are_kept(demo_services) -> None:
    registry, slug = demo_services.runtimes, new_bot(demo_services)
    store_examples(registry, slug, examples(track=TRACK, oos=OOS))
    assert stored(demo_services, slug) == {("track", "csv"), (OUT_OF_SCOPE, "csv")}
    add_example(registry, slug, "track", "my parcel never came", "console")
    store_examples(registry, slug, examples(refund=REFUND))
    assert stored(demo_services, slug) == {("track", "console"), ("refund", "csv")}


def test_too_few_intents_or_examples(demo_services) -> None:
    registry, slug = demo_services.runtimes, new_bot(demo_services)
    with pytest.raises(BadRequest, match="at least two intents"):
        train(registry, slug, examples(track=TRACK, oos=OOS))
    row = train(registry, slug, examples(track=TRACK, refund=["refund please"]))
    assert row.version == 1 and row.metrics is None  # one example of refund: nothing to hold out


def test_evaluation_plan_never_tests_on_training_rows() -> None:
    labels = ["a"] * 6 + ["b"] * 3 + [OUT_OF_SCOPE] * 2
    method, splits = plan_evaluation(labels)
    assert method == "3-fold cross-validation" and len(splits) == 3
    tested = sorted(i for _, test in splits for i in test)
    assert tested == list(range(len(labels)))  # each row predicted exactly once
    assert all(not set(train) & set(test) for train, test in splits)
    big = ["a"] * 700 + ["b"] * 400 + [OUT_OF_SCOPE]
    method, splits = plan_evaluation(big)
    assert method == "stratified 80/20 hold-out" and len(splits) == 1
    train_idx, test_idx = splits[0]
    assert not set(train_idx) & set(test_idx) and 200 <= len(test_idx) <= 221
    assert plan_evaluation(["a", "a", "b"])[1] == []


def test_old_version_files_are_pruned_but_never_the_active_one(demo_services) -> None:
    from server.intent_models import prune_files

    registry, slug = demo_services.runtimes, new_bot(demo_services)
    for _ in range(3):
        train(registry, slug, examples(track=TRACK[:3], refund=REFUND[:3]), evaluate_first=False)
    promote_version(registry, slug, 1)
    rows = {m.version: m for m in list_models(registry, slug)}
    with Session(demo_services.engine) as session:
        bot_row = session.exec(select(Bot).where(Bot.slug == slug)).one()
    assert prune_files(registry, bot_row, keep=1) == [2]  # v3 is the newest kept, v1 is active
    assert not (demo_services.settings.data_dir / rows[2].folder).exists()
    assert (demo_services.settings.data_dir / rows[1].folder / "meta.json").is_file()
    with pytest.raises(BadRequest, match="files of version 2 are missing"):
        promote_version(registry, slug, 2)


def test_memo_embedder_embeds_each_text_once() -> None:
    inner = HashEmbedder()
    memo = _MemoEmbedder(inner)
    memo.warm(["a b", "c d", "a b"], lambda _: None)
    first = memo.encode(["c d", "a b"])
    assert inner.calls == 1 and memo.name == inner.name
    assert (first == inner.encode(["c d", "a b"])).all()
    memo.encode(["new text", "a b"])
    assert inner.calls == 3  # one for the unseen text, one from the comparison above


def test_train_version_reads_examples_from_every_source(demo_services) -> None:
    registry, slug = demo_services.runtimes, new_bot(demo_services)
    store_examples(registry, slug, examples(track=TRACK, refund=REFUND))
    for text in HOURS:
        add_example(registry, slug, "hours", text, "console")
    row = train_version(registry, slug)
    assert row.intents == 3 and row.examples == len(TRACK) + len(REFUND) + len(HOURS)


def test_a_fine_tune_is_scored_by_its_own_calibration_run_without_extra_fits(demo_services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import server.intent_models as intent_models
    from bot.intents.finetune import FinetuneConfig

    monkeypatch.setattr(intent_models, "DEFAULT_METHOD", "auto")  # the real fine-tune, a few steps only
    monkeypatch.setattr("bot.intents.classifier.default_finetune_config",
                        lambda device: FinetuneConfig(steps=3, batch_size=8))
    fits: list[int] = []
    real_fit = intent_models._fit
    monkeypatch.setattr(intent_models, "_fit", lambda model, texts, labels, on: fits.append(len(texts))
                        or real_fit(model, texts, labels, on))
    slug = new_bot(demo_services)
    train(demo_services.runtimes, slug, examples(track=TRACK, refund=REFUND, hours=HOURS, oos=OOS))
    (row,) = list_models(demo_services.runtimes, slug)
    in_scope = len(TRACK) + len(REFUND) + len(HOURS)
    assert fits == [in_scope + len(OOS)]  # one fit on every row: no separate evaluation fits
    assert "calibration run" in row.params["evaluation"]
    held = sum(max(1, round(0.2 * len(rows))) for rows in (TRACK, REFUND, HOURS))
    assert row.metrics is not None and row.metrics["n"] == held + len(OOS)  # held-out rows and every oos row
    assert row.params["calibration"]["method"] == "held-out fine-tune"


def test_the_intent_method_setting_trains_a_frozen_head_without_fine_tuning(demo_services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import server.intent_models as intent_models

    monkeypatch.setattr(intent_models, "DEFAULT_METHOD", "auto")  # the product default would fine-tune MiniLM ...
    monkeypatch.setattr(demo_services.settings, "intent_method", "frozen")  # ... FRONTDESK_INTENT_METHOD says no
    slug = new_bot(demo_services)
    train(demo_services.runtimes, slug, examples(track=TRACK, refund=REFUND, oos=OOS))
    (row,) = list_models(demo_services.runtimes, slug)
    assert row.method == "frozen" and row.params["encoder"] is None
    assert "cross-validation" in row.params["evaluation"]
