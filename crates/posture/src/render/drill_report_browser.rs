//! Headless Chromium for the drill report's HTML test: a screenshot of a page and the
//! decoded pixels to look for the node column headers in.

use std::fs::File;
use std::io::BufReader;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::CHROMIUM;

/// A guard against a browser that hangs, not a wait for it: a screenshot takes a second.
const DEADLINE: Duration = Duration::from_secs(60);

pub(super) fn screenshot(dir: &Path, page: &Path, shot: &Path) {
    let log_path = dir.join("chromium.log");
    let log = File::create(&log_path).expect("the log is created");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--force-color-profile=srgb",
            "--hide-scrollbars",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the log is shared"))
        .stderr(log)
        // Its own group, so a hung browser's renderer and helpers go with it.
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("chromium's status") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took over {DEADLINE:?}; its log:\n{}", log());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success() && shot.exists(),
        "chromium failed ({status}) or wrote no screenshot; its log:\n{}",
        log()
    );
}

pub(super) struct Image {
    pub(super) width: usize,
    pub(super) height: usize,
    pixels: Vec<[u8; 3]>,
}

impl Image {
    pub(super) fn decode(path: &Path) -> Self {
        let file = BufReader::new(File::open(path).expect("the screenshot opens"));
        let mut decoder = png::Decoder::new(file);
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().expect("a PNG");
        let size = reader.output_buffer_size().expect("a sane size");
        let mut buf = vec![0; size];
        let info = reader.next_frame(&mut buf).expect("a frame");
        let step = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("unexpected screenshot colour type {other:?}"),
        };
        let (width, height) = (info.width as usize, info.height as usize);
        let pixels = (0..height)
            .flat_map(|y| {
                let row = &buf[y * info.line_size..][..width * step];
                row.chunks(step).map(|p| [p[0], p[1], p[2]])
            })
            .collect::<Vec<_>>();
        Self {
            width,
            height,
            pixels,
        }
    }

    /// Where on row `y` the first run of `colour` at least `min` pixels long starts.
    pub(super) fn run(&self, y: usize, colour: [u8; 3], min: usize) -> Option<usize> {
        let row = &self.pixels[y * self.width..][..self.width];
        let mut start = 0;
        for (x, &p) in row.iter().enumerate() {
            if p != colour {
                start = x + 1;
            } else if x + 1 - start >= min {
                return Some(start);
            }
        }
        None
    }

    pub(super) fn longest_run(&self, colour: [u8; 3]) -> usize {
        let mut best = 0;
        for row in self.pixels.chunks(self.width) {
            let mut len = 0;
            for &p in row {
                len = if p == colour { len + 1 } else { 0 };
                best = best.max(len);
            }
        }
        best
    }
}

pub(super) fn rgb(hex: &str) -> [u8; 3] {
    let hex = hex.trim_start_matches('#');
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("a hex colour");
    [byte(0), byte(2), byte(4)]
}
