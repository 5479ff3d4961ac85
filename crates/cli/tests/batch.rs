//! `chainwalk trace --batch`: each output line is the document `chainwalk trace --format json`
//! gives for the same packet alone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

fn testdata(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(p)
        .to_string_lossy()
        .into_owned()
}

const PACKETS: [&str; 3] = [
    "-p tcp -s 192.168.49.1 --sport 40000 -d 10.100.29.239 --dport 80 -i eth0 --then reply",
    "-p tcp -s 192.168.49.1 --sport 40001 -d 10.100.29.239 --dport 81 -i eth0",
    "-p udp -d 10.96.0.10 --dport 53",
];

fn single(packet: &str) -> Value {
    let mut cmd = Command::cargo_bin("chainwalk").unwrap();
    cmd.args([
        "trace",
        "-r",
        &testdata("example-node/node.rules"),
        "--host",
        &testdata("example-node/host.yaml"),
        "--format",
        "json",
    ]);
    cmd.args(packet.split(' '));
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn batch_lines_are_the_single_traces() {
    let dir = std::env::temp_dir().join(format!("chainwalk-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("packets.txt");
    let json_packet: Vec<&str> = PACKETS[1].split(' ').collect();
    std::fs::write(
        &file,
        format!(
            "# packets to trace\n{}\n\n{}\n{}\n-p tcp -d\n",
            PACKETS[0],
            serde_json::json!({ "id": "second", "packet": json_packet }),
            serde_json::json!({ "id": 3, "packet": PACKETS[2] }),
        ),
    )
    .unwrap();
    let out = Command::cargo_bin("chainwalk")
        .unwrap()
        .args([
            "trace",
            "-r",
            &testdata("example-node/node.rules"),
            "--host",
            &testdata("example-node/host.yaml"),
            "--batch",
            file.to_str().unwrap(),
        ])
        .assert()
        .code(1)
        .get_output()
        .clone();
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Not a terminal: no progress bar, only the count of failures.
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim(), "1 of 4 packets could not be traced");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for (i, p) in PACKETS.iter().enumerate() {
        let mut got = lines[i].clone();
        let id = got.as_object_mut().unwrap().remove("id");
        assert_eq!(got, single(p), "packet {p}");
        assert_eq!(got["schema"], "chainwalk/trace/v1");
        match i {
            0 => assert_eq!(id, None),
            1 => assert_eq!(id, Some(Value::from("second"))),
            _ => assert_eq!(id, Some(Value::from(3))),
        }
    }
    assert_eq!(lines[3]["line"], 6);
    assert!(lines[3]["error"].as_str().unwrap().contains("bad packet"));
}

#[test]
fn batch_reads_stdin_and_needs_no_packet_argument() {
    let out = Command::cargo_bin("chainwalk")
        .unwrap()
        .args([
            "trace",
            "-r",
            &testdata("example-node/node.rules"),
            "--host",
            &testdata("example-node/host.yaml"),
            "--batch",
            "-",
        ])
        .write_stdin(format!("{}\n{}\n", PACKETS[1], PACKETS[2]))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, vec![single(PACKETS[1]), single(PACKETS[2])]);
}
