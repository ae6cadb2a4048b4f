"""Adds up the results of every test stage (JUnit XML from ctest and pytest,
plus one line per fuzz target or smoke run) and prints the closing line
"N passed, N failed, N skipped". Exit status 1 if anything failed or no test
ran at all."""
import pathlib
import sys
import xml.etree.ElementTree as ET


def main(out_dir: str) -> int:
    out = pathlib.Path(out_dir)
    passed = failed = skipped = 0
    for xml in sorted(out.glob("*.xml")):
        stage_passed = stage_failed = stage_skipped = 0
        for case in ET.parse(xml).getroot().iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                stage_failed += 1
                print(f"  FAILED {xml.stem}: {case.get('classname', '')}::{case.get('name')}")
            elif case.find("skipped") is not None:
                stage_skipped += 1
            else:
                stage_passed += 1
        print(f"{xml.stem}: {stage_passed} passed, {stage_failed} failed, {stage_skipped} skipped")
        passed, failed, skipped = passed + stage_passed, failed + stage_failed, skipped + stage_skipped
    other = out / "other.txt"
    if other.exists():
        for line in other.read_text().splitlines():
            result, name = line.split(" ", 1)
            print(f"{name}: {result}")
            if result == "pass":
                passed += 1
            else:
                failed += 1
    stage_failures = out / "stage-failures.txt"
    if stage_failures.exists():
        for line in stage_failures.read_text().splitlines():
            print(f"stage failed: {line}")
            failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
