"""`hotline prompts build`: espeak-ng and sox into Asterisk's format, overrides, skipping."""
import os
import shutil
import subprocess
import wave

import pytest
from click.testing import CliRunner

from hotline.cli import cli
from hotline.context import AppContext
from ivr.prompt_build import PromptBuildError, PromptTask, build_prompts, tasks_for
from ivr.prompts import LANGUAGES, load_manifest

pytestmark = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")),
    reason="espeak-ng and sox are not installed (`make install` installs them)",
)


def asterisk_format(path):
    with wave.open(str(path), "rb") as audio:
        return audio.getframerate(), audio.getnchannels(), audio.getsampwidth(), audio.getnframes()


@pytest.fixture
def small_tasks():
    manifest = load_manifest()
    return [t for t in tasks_for(manifest) if t.key in ("welcome", "digits/7")]


def test_builds_one_folder_per_language_in_asterisk_format(tmp_path, small_tasks):
    report = build_prompts(small_tasks, tmp_path / "out", tmp_path / "override")
    assert len(report.built) == 6
    for language in LANGUAGES:
        for key in ("welcome", "digits/7"):
            rate, channels, width, frames = asterisk_format(tmp_path / "out" / f"zh_{language}" / f"{key}.wav")
            assert (rate, channels, width) == (8000, 1, 2)
            assert frames > 800  # more than a tenth of a second of speech


def test_up_to_date_files_are_skipped_and_changes_rebuilt(tmp_path, small_tasks):
    out, override = tmp_path / "out", tmp_path / "override"
    build_prompts(small_tasks, out, override)
    again = build_prompts(small_tasks, out, override)
    assert (len(again.built), len(again.skipped)) == (0, 6)
    changed = [PromptTask(t.key, t.language, t.text + "。" if t.key == "welcome" and t.language == "yue" else t.text, t.voice, True)
               for t in small_tasks]
    third = build_prompts(changed, out, override)
    assert third.built == ["zh_yue/welcome"]
    (out / "zh_cmn" / "digits" / "7.wav").unlink()
    assert build_prompts(small_tasks, out, override).built != []


def test_a_recording_in_the_override_folder_wins(tmp_path, small_tasks):
    out, override = tmp_path / "out", tmp_path / "override"
    build_prompts(small_tasks, out, override)
    recording = override / "zh_hak" / "welcome.wav"
    recording.parent.mkdir(parents=True)
    # A studio recording: 44.1 kHz stereo, 1.5 s.
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(recording), "synth", "1.5", "sine", "440"], check=True)
    report = build_prompts(small_tasks, out, override)
    assert report.overridden == ["zh_hak/welcome"]
    rate, channels, width, frames = asterisk_format(out / "zh_hak" / "welcome.wav")
    assert (rate, channels, width) == (8000, 1, 2) and abs(frames - 12000) < 100
    recording.unlink()
    assert build_prompts(small_tasks, out, override).built == ["zh_hak/welcome"]


def test_text_the_voice_would_read_as_english_is_refused(tmp_path):
    task = PromptTask("welcome", "hak", "歡迎", "hak", True)
    with pytest.raises(PromptBuildError, match="reads part of zh_hak/welcome as English"):
        build_prompts([task], tmp_path / "out", tmp_path / "override")


def test_the_voicemail_beep_is_a_short_tone_in_every_language_folder(tmp_path):
    """Asterisk's own `beep` is a core sound a hotline need not have: ours is in the manifest."""
    manifest = load_manifest()
    assert "beep" in manifest and "beep" not in manifest.prompts
    tasks = [t for t in tasks_for(manifest) if t.key == "beep"]
    report = build_prompts(tasks, tmp_path / "out", tmp_path / "override")
    assert sorted(report.built) == [f"zh_{language}/beep" for language in sorted(LANGUAGES)]
    for language in LANGUAGES:
        path = tmp_path / "out" / f"zh_{language}" / "beep.wav"
        rate, channels, width, frames = asterisk_format(path)
        assert (rate, channels, width) == (8000, 1, 2) and 800 <= frames <= 8000  # 0.1 to 1 s
        with wave.open(str(path), "rb") as audio:
            samples = audio.readframes(frames)
        assert max(abs(int.from_bytes(samples[i:i + 2], "little", signed=True)) for i in range(0, len(samples), 2)) > 8000
    again = build_prompts(tasks, tmp_path / "out", tmp_path / "override")
    assert len(again.skipped) == 3


def test_every_prompt_in_the_manifest_is_readable_by_its_voice():
    """The gate over the whole manifest, without writing audio."""
    from concurrent.futures import ThreadPoolExecutor

    def phonemes(task: PromptTask) -> str:
        return subprocess.run(["espeak-ng", "-q", "-x", "-v", task.voice, task.text], capture_output=True, text=True).stdout

    spoken = [t for t in tasks_for(load_manifest()) if t.tone is None]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # an espeak-ng on each core
        unreadable = [task.label for task, said in zip(spoken, pool.map(phonemes, spoken)) if "(en)" in said]
    assert unreadable == []


def test_missing_tools_are_named(tmp_path, small_tasks, monkeypatch):
    monkeypatch.setattr("ivr.prompt_build.shutil.which", lambda tool: None if tool == "sox" else "/usr/bin/" + tool)
    with pytest.raises(PromptBuildError, match="sox not found: install the Debian packages"):
        build_prompts(small_tasks, tmp_path / "out", tmp_path / "override")


def test_cli_builds_prompts_and_provider_names(cli_demo_settings):
    settings = cli_demo_settings
    runner = CliRunner()
    app = AppContext(settings)
    result = runner.invoke(cli, ["prompts", "build"], obj=app, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = load_manifest()
    prompts = len(manifest.prompts) + len(manifest.tones)
    assert f"{3 * (prompts + 48)} spoken, 0 from recordings, 0 up to date" in result.output
    assert (settings.data_path("sounds", "zh_yue", "names")).is_dir()
    again = runner.invoke(cli, ["prompts", "build", "--no-names"], obj=app, catch_exceptions=False)
    assert f"0 spoken, 0 from recordings, {3 * prompts} up to date" in again.output
