//! Figures and reports as a user reads them, from fixed records (`tests/fixtures/records/`):
//! what `ratlab plot` draws (its texts, lines and point markers, read from the SVG) and the
//! Markdown `ratlab report` writes.

use crate::{cmd, root};

/// What a figure shows, read from its SVG: every text in drawing order (title, axis names, tick
/// labels, legend), the lines drawn through a single point (invisible), and the point markers.
fn svg_summary(svg: &str) -> String {
    let texts: Vec<&str> = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>').and_then(|(_, rest)| rest.split_once("</text>")).map(|(s, _)| s.trim()))
        .collect();
    let one_point_lines = svg
        .split("<polyline")
        .skip(1)
        .filter_map(|p| p.split_once("points=\"").and_then(|(_, rest)| rest.split_once('"')).map(|(pts, _)| pts.split_whitespace().count()))
        .filter(|&n| n == 1)
        .count();
    let markers = svg.matches("<circle").count();
    format!("texts: {}\nlines through one point: {one_point_lines}\npoint markers: {markers}\n", texts.join(" | "))
}

#[test]
fn a_step_axis_reads_whole_numbers_and_a_single_step_run_is_a_marker() {
    let tmp = tempfile::tempdir().unwrap();
    let svg = tmp.path().join("curves.svg");
    let records = root().join("tests/fixtures/records/curves");
    cmd().args(["plot", records.to_str().unwrap(), "--metric", "accuracy", "--out", svg.to_str().unwrap(), "--size", "480x300"]).assert().success();
    let summary = svg_summary(&std::fs::read_to_string(&svg).unwrap());
    insta::assert_snapshot!("plot_steps_and_a_single_point", summary);
    // The x axis of the boosting rounds: the same whole-number ticks.
    cmd().args(["plot", records.to_str().unwrap(), "--metric", "accuracy", "--x", "x", "--out", svg.to_str().unwrap(), "--size", "480x300"]).assert().success();
    let rounds = svg_summary(&std::fs::read_to_string(&svg).unwrap());
    assert!(rounds.contains("| 10 | 15 | 20 |") && !rounds.contains("10.0"), "{rounds}");
}

#[test]
fn a_report_groups_its_table_by_algorithm_with_the_parameters_that_differ_within_each() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    let records = root().join("tests/fixtures/records/ensembles");
    cmd().args(["report", records.to_str().unwrap(), "--out", dir.to_str().unwrap()]).assert().success();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    insta::assert_snapshot!("report_ensembles", md);
    assert!(std::fs::metadata(dir.join("ensembles-accuracy.png")).unwrap().len() > 10_000, "the figure of the curves");
}
