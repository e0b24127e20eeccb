"""The `nightly` flow: sequences the pipeline stages as a handful of coarse Prefect tasks.

All logic lives in `resilience.pipeline`; this module only orders the stages and reports.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from resilience import pipeline
from resilience.instruments import Registry, load_registry
from resilience.pipeline import RunReport
from resilience.report import run_summary_markdown
from resilience.settings import Settings, load_settings


@task(name="ingest", cache_policy=NO_CACHE)
def ingest(settings: Settings, report: RunReport, registry: Registry) -> RunReport:
    return pipeline.ingest_exports(settings, report, registry)


@task(name="validate", cache_policy=NO_CACHE)
def validate(settings: Settings, report: RunReport, registry: Registry) -> RunReport:
    return pipeline.validate(settings, report, registry)


@task(name="load", cache_policy=NO_CACHE)
def load(settings: Settings, report: RunReport) -> RunReport:
    return pipeline.load(settings, report)


@task(name="transform", cache_policy=NO_CACHE)
def transform(settings: Settings, registry: Registry) -> list[str]:
    return pipeline.transform(settings, registry)


@task(name="render", cache_policy=NO_CACHE)
def render(settings: Settings, report: RunReport) -> RunReport:
    return pipeline.render(settings, report)


@task(name="publish", cache_policy=NO_CACHE)
def publish(settings: Settings, report: RunReport) -> RunReport:
    return pipeline.publish(settings, report)


@flow(name="nightly")
def nightly(
    config: str | None = None,
    exports: str | None = None,
    roster: str | None = None,
    out: str | None = None,
) -> RunReport:
    """Ingest new survey exports, validate, load, score, and publish indicators and dashboards."""
    settings = load_settings(config, exports=exports, roster=roster, out=out)
    registry = load_registry()
    report = pipeline.new_run()
    report = ingest(settings, report, registry)
    report = validate(settings, report, registry)
    report = load(settings, report)
    transform(settings, registry)
    report = render(settings, report)
    report = publish(settings, report)
    summary = run_summary_markdown(report)
    create_markdown_artifact(markdown=summary, key="nightly-run-summary")
    get_run_logger().info(
        "run %s: %d read, %d loaded, %d quarantined",
        report.run_id,
        report.total("rows_read"),
        report.total("rows_loaded"),
        report.total("rows_quarantined"),
    )
    return report
