"""Timing of an ``allennlp ere-analyze`` report.html in headless Chromium (Debian's chromium and
chromedriver, through selenium): navigation + rendering, an error-kind filter and clearing it,
re-rendering after another approach is chosen; saves a screenshot.

    .venv/bin/python benchmarks/html_report.py docs/study_scierc_cpu/analysis_a4_a8_seed1/report.html
"""
import argparse
import time
from pathlib import Path

from selenium import webdriver

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("--kind", default="argument_not_found", help="the error kind to filter by")
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in FLAGS:
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=args.chromedriver))
    try:
        start = time.time()
        browser.get(args.report.resolve().as_uri())
        loaded = time.time() - start
        sentences = len(browser.find_elements("css selector", ".sentence"))
        filtered, cleared = browser.execute_script(
            "const k = document.getElementById('kind'); let t = performance.now();"
            "k.value = arguments[0]; k.dispatchEvent(new Event('input')); const a = performance.now() - t;"
            "t = performance.now(); k.value = ''; k.dispatchEvent(new Event('input'));"
            "return [a, performance.now() - t];", args.kind)
        rendered = browser.execute_script(
            "const t = performance.now(); document.getElementById('approach-b').dispatchEvent(new Event('change'));"
            "return performance.now() - t;")
        print(f"sentences {sentences}; navigation + rendering {1000 * loaded:.0f} ms; filter {filtered:.0f} ms; "
              f"clear {cleared:.0f} ms; re-render {rendered:.0f} ms")
        if args.screenshot:
            browser.set_window_size(1100, 700)
            browser.save_screenshot(str(args.screenshot))
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
