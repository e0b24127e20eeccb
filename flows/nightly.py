"""The `nightly` flow: sequences the pipeline stages as a handful of coarse Prefect tasks.

All logic lives in `resilience.pipeline`; this module only orders the stages and reports.
"""

from __future__ import annotations

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from resilience import pipeline
from resilience.instruments import Registry, load_registry
from resilience.pipeline import ExportsNotReady, RunReport
from resilience.quality_report import validation_markdown
from resilience.report import run_summary_markdown
from resilience.settings import Settings, load_settings


def exports_not_ready(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry only what waiting can fix: an exports folder that cannot be read right now."""
    try:
        state.result()
    except ExportsNotReady:
        return True
    except Exception:
        return False
    return False


@task(
    name="ingest",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=exports_not_ready,
)
def ingest(settings: Settings, report: RunReport, registry: Registry, progress: bool) -> RunReport:
    return pipeline.ingest_exports(settings, report, registry, progress)


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
    progress: bool = False,
    mappings: str | None = None,
    waves: str | None = None,
    actions: str | None = None,
) -> RunReport:
    """Ingest new survey exports, validate, load, score, and publish indicators and dashboards.

    `progress` draws progress bars on standard error (for an interactive terminal only).
    """
    settings = load_settings(
        config,
        exports=exports,
        roster=roster,
        out=out,
        mappings=mappings,
        waves=waves,
        actions=actions,
    )
    registry = load_registry()
    with pipeline.recorded_run(settings, registry) as report:
        report = ingest(settings, report, registry, progress)
        report = validate(settings, report, registry)
        report = load(settings, report)
        transform(settings, registry)
        report = render(settings, report)
        report = publish(settings, report)
    summary = run_summary_markdown(report) + "\n" + validation_markdown(report)
    create_markdown_artifact(markdown=summary, key="nightly-run-summary")
    get_run_logger().info(
        "run %s: %d read, %d loaded, %d quarantined",
        report.run_id,
        report.total("rows_read"),
        report.total("rows_loaded"),
        report.total("rows_quarantined"),
    )
    return report
