"""The task registry: every task is complete (command, default model, alpha space with meanings,
recipe, batches, validation, evaluation), and the registries refuse a name taken by another
class."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from tunecli.alpha import AlphaSpace
from tunecli.archs import TilingContract, TunableNet, get_arch, register_arch
from tunecli.cli import app
from tunecli.errors import UsageError
from tunecli.tasks import Task, default_models, get_task, list_tasks, register_task
from tunecli.tasks import registry as task_registry
from tunecli.training.loop import TrainConfig

BUILTIN = ("denoise", "deblur", "upscale", "style")
OVERRIDDEN = ("alpha_space", "recipe", "make_batch", "validation_cases", "evaluate")


def config_for(task: Task) -> TrainConfig:
    """A config each task accepts for describing itself (style needs its paintings)."""
    own = {"styles": ["a.png", "b.png"]} if task.name == "style" else {}
    return TrainConfig(task=task.name, data=[], out="x.safetensors", task_options=own)


@pytest.fixture()
def clean_registry() -> Iterator[None]:
    """Restore the task registry after a test that registers tasks."""
    list_tasks()
    saved = dict(task_registry._TASKS)
    yield
    task_registry._TASKS.clear()
    task_registry._TASKS.update(saved)


def test_builtin_tasks_in_command_order() -> None:
    names = [t.name for t in list_tasks()]
    assert names[: len(BUILTIN)] == list(BUILTIN)
    assert len(set(names)) == len(names)
    assert default_models() == {t.name: t.default_model for t in list_tasks()}


@pytest.mark.parametrize("name", BUILTIN)
def test_every_task_is_complete(name: str) -> None:
    task = get_task(name)
    assert task.name == name and task.summary and task.default_model
    assert default_models()[name] == task.default_model
    assert get_arch(task.default_arch) is not None, task.default_arch
    for method in OVERRIDDEN:
        assert getattr(type(task), method) is not getattr(Task, method), f"{name} does not override {method}"
    space = task.alpha_space(config_for(task))
    assert isinstance(space, AlphaSpace) and space.p >= 2 and len(space.axes) == space.p
    for axis in space.axes:
        assert axis.name and axis.meaning.strip(), f"{name}: axis {axis.name!r} has no meaning"
    # its example alpha parses for its default model
    from tunecli.models import find_model

    find_model(task.default_model).alpha_space.parse(task.example_alpha)
    # its own options are declared with their help, and `tunecli train TASK --help` lists them
    help_text = CliRunner().invoke(app, ["train", name, "--help"], env={"COLUMNS": "200"}).output
    for option in (*task.train_options, *task.eval_options):
        assert option.help.strip(), f"{name}: {option.name} has no help"
    for option in task.train_options:
        assert option.option_flag in help_text, option.option_flag


def test_style_space_is_named_after_the_paintings() -> None:
    task = get_task("style")
    space = task.alpha_space(
        TrainConfig.of("style", data=[], out="x.safetensors", styles=["Starry Night.png", "b.jpg", "c-3.png"])
    )
    assert space.names == ("starry_night", "b", "c_3") and space.p == 3
    with pytest.raises(UsageError, match="two or more paintings"):
        task.alpha_space(TrainConfig.of("style", data=[], out="x.safetensors", styles=["a.png"]))
    with pytest.raises(UsageError, match="distinct names"):
        task.alpha_space(TrainConfig.of("style", data=[], out="x.safetensors", styles=["x/a.png", "y/a.png"]))


@pytest.mark.parametrize("name", BUILTIN)
def test_every_task_has_a_cli_command(name: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "--alpha" in result.output
    train = runner.invoke(app, ["train", name, "--help"])
    assert train.exit_code == 0, train.output
    assert "--data" in train.output and "--out" in train.output


def test_root_help_lists_every_task() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for task in list_tasks():
        assert task.name in result.output


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown task 'sharpen'.*denoise, deblur, upscale, style"):
        get_task("sharpen")


def test_register_task_refuses_another_class_under_a_taken_name(clean_registry: None) -> None:
    class Imposter(Task):
        name = "denoise"
        summary = "not the denoiser"
        default_model = "imposter"

    original = get_task("denoise")
    with pytest.raises(ValueError, match="already registered"):
        register_task(Imposter())
    assert get_task("denoise") is original  # the registry kept the first one

    # the same class again (a module reloaded) is accepted
    register_task(type(original)())

    # and an incomplete task is refused
    class Nameless(Task):
        name = "nameless"

    with pytest.raises(ValueError, match="needs a name, a summary and a default model"):
        register_task(Nameless())


def test_register_task_adds_a_new_task(clean_registry: None) -> None:
    class Sharpen(Task):
        name = "sharpen-test"
        summary = "a test task"
        default_model = "sharpen-test-model"

    register_task(Sharpen())
    assert get_task("sharpen-test").default_model == "sharpen-test-model"
    assert default_models()["sharpen-test"] == "sharpen-test-model"


def test_register_arch_refuses_a_duplicate_name_from_another_class() -> None:
    spec = get_arch("unet")
    assert spec is not None

    class OtherNet(TunableNet):
        def __init__(self, p: int = 2) -> None:
            super().__init__()
            self.p, self.channels = p, 3

        @property
        def tiling(self) -> TilingContract:
            return TilingContract(scale=1, size_multiple=1, receptive_radius=0, tile_exact=True)

    with pytest.raises(ValueError, match="already registered"):
        register_arch("unet", "an imposter")(OtherNet)
    assert get_arch("unet") is spec  # untouched
    with pytest.raises(TypeError, match="not a TunableNet"):
        register_arch("not-a-net", "nope")(dict)  # type: ignore[arg-type]


def test_builtin_tasks_come_first_even_after_an_early_registration() -> None:
    script = (
        "from tunecli.tasks.registry import Task, list_tasks, register_task\n"
        "class Sharpen(Task):\n"
        "    name, summary, default_model = 'sharpen', 'a plug-in task', 'sharpen-model'\n"
        "register_task(Sharpen())\n"
        "print(','.join(t.name for t in list_tasks()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "denoise,deblur,upscale,style,sharpen"


@pytest.mark.parametrize("first", BUILTIN)
def test_builtin_tasks_keep_their_order_whichever_task_module_is_imported_first(first: str) -> None:
    script = (
        f"import tunecli.tasks.{first}\n"
        "import tunecli.tasks\n"
        "print(','.join(t.name for t in tunecli.tasks.list_tasks()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip().split(",") == list(BUILTIN)


def test_listing_tasks_does_not_import_torch() -> None:
    script = (
        "import sys\n"
        "from tunecli.tasks import list_tasks\n"
        "names = [t.name for t in list_tasks()]\n"
        "import tunecli.cli\n"
        "print(','.join(names), 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["denoise,deblur,upscale,style", "False"]
