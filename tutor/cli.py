"""Command line: ``python -m tutor <command>``. Grade files, prove lessons, manage the MNIST data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tutor import settings
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import load_lessons
from tutor.sandbox import dataset as data

EXIT_OK = 0
EXIT_FAILED = 1  # check-lessons: a proof failed
EXIT_USAGE = 2  # could not grade: bad arguments, unknown lesson, unreadable file
EXIT_GRADER = 3  # could not grade: the grader or sandbox broke


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "sandbox", None):
        settings.use_sandbox_level(args.sandbox)
    return args.handler(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tutor", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    grade = commands.add_parser("grade", help="grade a learner's file against a lesson")
    grade.add_argument("path", type=Path)
    grade.add_argument("--lesson", required=True, help="lesson id, e.g. assign-the-model")
    grade.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    grade.add_argument("--sandbox", choices=["strict", "basic", "auto"])
    grade.set_defaults(handler=command_grade)

    check = commands.add_parser("check-lessons", help="prove every lesson (solution, starter, wrong variants)")
    check.add_argument("ids", nargs="*", help="only these lesson ids")
    check.add_argument("--jobs", type=int, default=2, help="sandboxes at a time (default 2)")
    check.add_argument("--sandbox", choices=["strict", "basic", "auto"])
    check.set_defaults(handler=command_check_lessons)

    doctor = commands.add_parser("doctor", help="check this machine before class (includes a tiny real run)")
    doctor.add_argument("--sandbox", choices=["strict", "basic", "auto"])
    doctor.set_defaults(handler=command_doctor)

    worker = commands.add_parser("worker", help="run queued runs on this host (TUTOR_RUNS=queue)")
    worker.add_argument("--sandbox", choices=["strict", "basic", "auto"])
    worker.set_defaults(handler=command_worker)

    submit = commands.add_parser("submit", help="grade a file through the run queue as the app does (queue mode)")
    submit.add_argument("path", type=Path)
    submit.add_argument("--lesson", required=True, help="lesson id, e.g. assign-the-model")
    submit.add_argument("--learner", required=True, help="the learner's name (created on first use)")
    submit.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    submit.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the verdict (default 900)")
    submit.set_defaults(handler=command_submit)

    explain = commands.add_parser("explain", help="explain the NameError in your own script or notebook")
    explain.add_argument("path", type=Path, metavar="FILE", help="a .py script or an .ipynb notebook")
    explain.add_argument("--traceback", type=Path, metavar="TEXT_FILE", help="the traceback you got, as text")
    explain.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    explain.add_argument("--no-run", action="store_true", help="explain from the file alone; do not run it here")
    explain.add_argument("--sandbox", choices=["strict", "basic", "auto"])
    explain.set_defaults(handler=command_explain)

    lessons = commands.add_parser("lessons", help="list the lessons and any broken lesson files")
    lessons.add_argument("--json", action="store_true", help="print one JSON object: lessons (with files), broken")
    lessons.set_defaults(handler=command_lessons)

    schema = commands.add_parser("schema", help="print the lesson file's JSON Schema (for editors)")
    schema.set_defaults(handler=command_schema)

    new = commands.add_parser("new-lesson", help="write a working lesson skeleton (toml, starter, solution)")
    new.add_argument("id", help="the new lesson's id, e.g. keep-the-model")
    new.add_argument("--kind", choices=[str(k) for k in LessonKind], default=str(LessonKind.SCRIPT))
    new.add_argument("--lessons-dir", type=Path, help="default: the lessons folder (TUTOR_LESSONS_DIR)")
    new.add_argument("--solutions-dir", type=Path, help="default: the solutions folder (TUTOR_SOLUTIONS_DIR)")
    new.set_defaults(handler=command_new_lesson)

    notebook = commands.add_parser("notebook", help="a notebook lesson as .ipynb, or an .ipynb as a lesson")
    notebook_commands = notebook.add_subparsers(required=True, metavar="ACTION")
    export = notebook_commands.add_parser("export", help="write a notebook lesson's starter (or solution) as .ipynb")
    export.add_argument("id", help="the lesson's id")
    export.add_argument("--solution", action="store_true", help="the reference solution instead of the starter")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
    export.set_defaults(handler=command_notebook_export)
    importer_nb = notebook_commands.add_parser("import", help="make a new notebook lesson from an .ipynb file")
    importer_nb.add_argument("path", type=Path, metavar="FILE.ipynb")
    importer_nb.add_argument("--id", required=True, help="the new lesson's id, e.g. restart-and-run-all")
    importer_nb.add_argument("--lessons-dir", type=Path, help="default: the lessons folder (TUTOR_LESSONS_DIR)")
    importer_nb.add_argument("--solutions-dir", type=Path, help="default: the solutions folder (TUTOR_SOLUTIONS_DIR)")
    importer_nb.set_defaults(handler=command_notebook_import)

    ship = commands.add_parser("ship-lessons", help="record the lessons' hashes as shipped (proved by CI)")
    ship.set_defaults(handler=command_ship_lessons)

    data_parser = commands.add_parser("data", help="which MNIST is used; import or fetch the real one")
    data_commands = data_parser.add_subparsers(required=True, metavar="ACTION")
    data_commands.add_parser("status", help="show which dataset is active").set_defaults(handler=command_data_status)
    importer = data_commands.add_parser("import", help="install a real mnist.npz you have (hash verified)")
    importer.add_argument("path", type=Path)
    importer.set_defaults(handler=command_data_import)
    fetch = data_commands.add_parser("fetch", help="download the real mnist.npz (needs internet)")
    fetch.set_defaults(handler=command_data_fetch)
    return parser


def command_grade(args: argparse.Namespace) -> int:
    from tutor.grading.grade import grade_source
    from tutor.grading.report import format_verdict
    from tutor.grading.verdict import Verdict

    def fail(message: str, code: int) -> int:
        if args.json:  # the same shape as any verdict: nothing graded, grader_error says why
            print(json.dumps(Verdict(args.lesson, False, [], grader_error=message).to_dict()))
        else:
            print(f"error: {message}", file=sys.stderr)
        return code

    lesson_set = load_lessons()
    lesson = lesson_set.get(args.lesson)
    if lesson is None:
        broken = [str(e) for e in lesson_set.errors if e.path.stem == args.lesson]
        known = ", ".join(item.id for item in lesson_set.lessons)
        return fail(broken[0] if broken else f"no lesson {args.lesson!r} (known: {known})", EXIT_USAGE)
    try:
        source = args.path.read_bytes()
    except OSError as exc:
        return fail(f"cannot read {args.path}: {exc.strerror}", EXIT_USAGE)
    verdict = grade_source(lesson, source)
    if args.json:
        print(json.dumps(verdict.to_dict()))
    else:
        print(format_verdict(verdict))
    return EXIT_GRADER if verdict.grader_error else EXIT_OK


MAX_TRACEBACK_FILE_BYTES = 1_000_000  # read no more of a --traceback file (the explainer keeps its last 100 KB)


def command_explain(args: argparse.Namespace) -> int:
    from tutor.explain.contract import InputError, refused_explanation
    from tutor.explain.explain import explain_file
    from tutor.explain.report import format_explanation

    def fail(message: str) -> int:
        if args.json:  # the same shape as any explanation: nothing found, the summary says why
            print(json.dumps(refused_explanation(args.path.name, message).to_dict()))
        else:
            print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE

    try:
        data = args.path.read_bytes()
    except OSError as exc:
        return fail(f"cannot read {args.path}: {exc.strerror}")
    traceback_text = None
    if args.traceback is not None:
        try:
            with args.traceback.open("rb") as handle:
                tail = handle.read(MAX_TRACEBACK_FILE_BYTES)
        except OSError as exc:
            return fail(f"cannot read {args.traceback}: {exc.strerror}")
        traceback_text = tail.decode("utf-8", "replace")
    try:
        explanation = explain_file(args.path.name, data, traceback_text, run=not args.no_run)
    except InputError as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps(explanation.to_dict()))
    else:
        print(format_explanation(explanation, data.decode("utf-8-sig", "replace")))
    return EXIT_GRADER if explanation.grader_error else EXIT_OK


def command_worker(args: argparse.Namespace) -> int:
    from tutor.runs.queue.worker import run_worker
    from tutor.settings import SettingsError

    try:
        return run_worker()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def command_submit(args: argparse.Namespace) -> int:
    from tutor.runs.submit import submit_and_wait

    return submit_and_wait(args.path, args.lesson, args.learner, args.json, args.timeout)


def command_check_lessons(args: argparse.Namespace) -> int:
    from tutor.authoring.proofs import prove_lessons

    lesson_set = load_lessons()
    print_broken(lesson_set.errors)
    lessons = [lesson for lesson in lesson_set.lessons if not args.ids or lesson.id in args.ids]
    unknown = set(args.ids) - {lesson.id for lesson in lessons}
    if unknown:
        print(f"error: unknown lesson id(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return EXIT_USAGE

    def report(proof) -> None:
        detail = proof.detail.replace("\n", "\n      ")  # a fixture's traceback, indented under its line
        print(f"{'ok  ' if proof.passed else 'FAIL'}  {proof.lesson:<20} {proof.item:<32} {detail}", flush=True)

    proofs = prove_lessons(lessons, jobs=args.jobs, report=report)
    record_proofs(lessons, proofs)
    failed = [proof for proof in proofs if not proof.passed]
    print(f"{len(proofs) - len(failed)} passed, {len(failed)} failed ({len(lessons)} lessons)")
    return EXIT_FAILED if failed or lesson_set.errors else EXIT_OK


def record_proofs(lessons: list, proofs: list) -> None:
    """A running app publishes a changed lesson once its proofs passed: check-lessons' count too."""
    from tutor.authoring.publishing import ProofStore, proof_key
    from tutor.lessons.files import content_hash

    store = ProofStore()
    for lesson in lessons:
        store.record(proof_key(content_hash(lesson)), lesson.id, [p for p in proofs if p.lesson == lesson.id])


def command_doctor(args: argparse.Namespace) -> int:
    from tutor.doctor import format_findings, run_doctor

    findings = run_doctor()
    print(format_findings(findings))
    return EXIT_OK if all(finding.ok for finding in findings) else EXIT_FAILED


def command_lessons(args: argparse.Namespace) -> int:
    lesson_set = load_lessons()
    if args.json:
        from tutor.lessons.listing import lessons_json

        print(json.dumps(lessons_json(lesson_set, Path.cwd()), indent=2))
        return EXIT_FAILED if lesson_set.errors else EXIT_OK
    width = max((len(lesson.id) for lesson in lesson_set.lessons), default=0)
    for lesson in lesson_set.lessons:
        print(f"{lesson.id:<{width}} {lesson.kind:<8} {lesson.title}")
    print_broken(lesson_set.errors)
    return EXIT_FAILED if lesson_set.errors else EXIT_OK


def print_broken(errors: list) -> None:
    """One BROKEN line per field at fault; a fixture's traceback follows, indented."""
    for error in errors:
        for field_name, problem in error.problems:
            first, *rest = problem.splitlines()
            print(f"BROKEN  {error.path}: field '{field_name}': {first}")
            for line in rest:
                print(f"        {line}")


def command_ship_lessons(args: argparse.Namespace) -> int:
    """lessons/shipped.json: a fresh install trusts these versions as proved (CI runs check-lessons)."""
    from tutor import settings
    from tutor.authoring.publishing import write_shipped

    lesson_set = load_lessons()
    print_broken(lesson_set.errors)
    if lesson_set.errors:
        return EXIT_FAILED
    path = write_shipped(lesson_set.lessons, settings.lessons_dir())
    print(f"{path}: {len(lesson_set.lessons)} lessons; prove them with `python -m tutor check-lessons`")
    return EXIT_OK


def command_schema(args: argparse.Namespace) -> int:
    from tutor.lessons.schema import lesson_json_schema

    print(json.dumps(lesson_json_schema(), indent=2))
    return EXIT_OK


def command_new_lesson(args: argparse.Namespace) -> int:
    from tutor import settings
    from tutor.authoring.new_lesson import NewLessonError, write_skeleton
    from tutor.lessons.lesson import LessonError

    lessons_dir = args.lessons_dir or settings.lessons_dir()
    solutions_dir = args.solutions_dir or settings.solutions_dir()
    try:
        skeleton = write_skeleton(args.id, lessons_dir, solutions_dir, LessonKind(args.kind))
    except (NewLessonError, LessonError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in skeleton.files:
        print(f"wrote   {path}")
    folders = ""
    if args.lessons_dir or args.solutions_dir:
        folders = f"TUTOR_LESSONS_DIR={lessons_dir} TUTOR_SOLUTIONS_DIR={solutions_dir} "
    print(
        f"\nThe lesson '{args.id}' loads. Its starter already fails with NameError for 'model' (a bare\n"
        "build_model() call), so it proves itself now:\n"
        f"    {folders}python -m tutor check-lessons {args.id}\n"
        "Then make it yours: the text and hints in the .toml, your bug in the starter, the fix in the\n"
        "solution, and the mistakes you expect as [[wrong]] variants; run check-lessons again after each\n"
        "change (guide: docs/authoring.md). Note: a running app shows every lesson in its lessons folder\n"
        "to learners at once; for a live workshop, write it elsewhere first (--lessons-dir, --solutions-dir)."
    )
    return EXIT_OK


def command_notebook_export(args: argparse.Namespace) -> int:
    from tutor.lessons.cells import write_ipynb

    lesson_set = load_lessons()
    lesson = lesson_set.get(args.id)
    if lesson is None:
        broken = [str(e) for e in lesson_set.errors if e.path.stem == args.id]
        known = ", ".join(item.id for item in lesson_set.lessons if item.kind is LessonKind.NOTEBOOK)
        print(
            f"error: {broken[0] if broken else f'no lesson {args.id!r} (notebook lessons: {known})'}", file=sys.stderr
        )
        return EXIT_USAGE
    if lesson.kind is not LessonKind.NOTEBOOK:
        print(f"error: {args.id!r} is a {lesson.kind} lesson, not a notebook lesson", file=sys.stderr)
        return EXIT_USAGE
    text = write_ipynb(lesson.solution_cells if args.solution else lesson.starter_cells)
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote   {args.output}", file=sys.stderr)
    return EXIT_OK


def command_notebook_import(args: argparse.Namespace) -> int:
    from tutor.authoring.new_lesson import NewLessonError, import_notebook
    from tutor.lessons.cells import MAX_IPYNB_BYTES, NotebookError, code_cells
    from tutor.lessons.lesson import LessonError

    lessons_dir = args.lessons_dir or settings.lessons_dir()
    solutions_dir = args.solutions_dir or settings.solutions_dir()
    try:
        with args.path.open("rb") as handle:
            raw = handle.read(MAX_IPYNB_BYTES + 1)  # no more than the cap (and one byte to know it is over)
    except OSError as exc:
        print(f"error: cannot read {args.path}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        skeleton = import_notebook(raw, args.path.name, args.id, lessons_dir, solutions_dir)
    except NotebookError as exc:
        print(f"error: {args.path} {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (NewLessonError, LessonError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in skeleton.files:
        print(f"wrote   {path}")
    cells = len(code_cells(skeleton.lesson.starter_cells))
    print(
        f"\nThe notebook lesson '{args.id}' loads ({cells} code cells). Its starter and its solution are both the\n"
        "notebook: make the starter fail as the lesson teaches and the solution work, then fill in the TOML's\n"
        "TODOs (starter_fails_with, [notebook] session) and prove it:\n"
        f"    python -m tutor check-lessons {args.id}\n"
        "(guide: docs/authoring.md, Notebook lessons)."
    )
    return EXIT_OK


def command_data_status(args: argparse.Namespace) -> int:
    print(data.format_status(data.get_dataset_status()))
    return EXIT_OK


def command_data_import(args: argparse.Namespace) -> int:
    try:
        dataset = data.import_real(args.path)
    except data.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"installed {dataset.description} at {dataset.path}")
    return EXIT_OK


def command_data_fetch(args: argparse.Namespace) -> int:
    try:
        dataset = data.fetch_real()
    except data.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"installed {dataset.description} at {dataset.path}")
    return EXIT_OK
