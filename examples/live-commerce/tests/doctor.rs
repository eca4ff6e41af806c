//! `live-commerce doctor` against the real dev services, and against a
//! service that is down.

use std::process::Output;

fn doctor(overrides: &[(&str, String)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_live-commerce"));
    command.arg("doctor");
    for (name, value) in overrides {
        command.env(name, value);
    }
    command.output().expect("running live-commerce doctor")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn reports_every_service_up_with_version_and_round_trip() {
    let output = doctor(&[]);
    let text = text(&output);
    assert!(
        output.status.success(),
        "doctor failed with the dev services up:\n{text}"
    );
    for service in ["redis", "rabbitmq", "kafka", "postgres"] {
        let line = text
            .lines()
            .find(|line| line.starts_with(service))
            .unwrap_or_else(|| panic!("no line for {service}:\n{text}"));
        assert!(line.contains(" up "), "{line}");
        assert!(line.trim_end().ends_with("ms"), "{line}");
    }
    assert!(text.contains("PostgreSQL 15"), "{text}");
    assert!(text.contains("RabbitMQ 3."), "{text}");
}

#[test]
fn names_the_service_that_is_down_and_exits_1() {
    let unused = testkit::free_port().unwrap();
    let output = doctor(&[("REDIS_URL", format!("redis://127.0.0.1:{unused}"))]);
    let text = text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("DOWN: redis at redis://127.0.0.1:{unused}")),
        "{text}"
    );
    assert!(
        !text.contains("DOWN: postgres"),
        "only the down service is named:\n{text}"
    );
}

#[test]
fn a_hanging_service_is_reported_within_the_timeout() {
    // A listener that accepts but never answers: the check must give up, not hang.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let output = doctor(&[(
        "DATABASE_URL",
        format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres"),
    )]);
    let text = text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("DOWN: postgres"), "{text}");
    assert!(text.contains("no answer within"), "{text}");
    drop(listener);
}
