//! Upload inspection against archives built in memory: valid wheels and
//! sdists, bombs, path tricks, layout and metadata mismatches, corruption.

use std::io::{Cursor, Write};

use bulwark_tuf::hash::{HashAlgorithm, sha256_hex};
use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{EntryType, Header};
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use super::*;

const META: &[u8] =
    b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Python: >=3.9\n\nHello.\n";
const WHEEL: &[u8] =
    b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
const WHEEL_NAME: &str = "demo-1.0-py3-none-any.whl";
const SDIST_NAME: &str = "demo-1.0.tar.gz";
const SDIST_ZIP_NAME: &str = "demo-1.0.zip";

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(entries, CompressionMethod::Deflated)
}

fn zip_with(entries: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        if let Some(dir) = name.strip_suffix('/') {
            writer.add_directory(dir, options).unwrap();
        } else {
            writer.start_file(*name, options).unwrap();
            writer.write_all(data).unwrap();
        }
    }
    writer.finish().unwrap().into_inner()
}

fn wheel_with(extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("demo/__init__.py", b"print('hi')\n"),
        ("demo-1.0.dist-info/METADATA", META),
        ("demo-1.0.dist-info/WHEEL", WHEEL),
    ];
    entries.extend_from_slice(extra);
    entries.push(("demo-1.0.dist-info/RECORD", b""));
    zip_of(&entries)
}

/// A tar entry written byte for byte, bypassing the `tar` crate's path checks.
#[derive(Clone, Copy)]
struct Raw<'a> {
    name: &'a [u8],
    kind: EntryType,
    data: &'a [u8],
    link: &'a [u8],
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        name: name.as_bytes(),
        kind: EntryType::Regular,
        data,
        link: b"",
    }
}

fn tar_of(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = Header::new_gnu();
        let name = &mut header.as_old_mut().name;
        name[..entry.name.len()].copy_from_slice(entry.name);
        if !entry.link.is_empty() {
            header.as_old_mut().linkname[..entry.link.len()].copy_from_slice(entry.link);
        }
        header.set_entry_type(entry.kind);
        header.set_size(entry.data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, entry.data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn sdist_with(extra: &[Raw<'_>]) -> Vec<u8> {
    let mut entries = vec![
        file("demo-1.0/PKG-INFO", META),
        file("demo-1.0/setup.py", b""),
    ];
    entries.extend_from_slice(extra);
    gz(&tar_of(&entries))
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // "%d %s=%s\n", the length counting itself.
    let body = 1 + key.len() + 1 + value.len() + 1;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

fn pax(kind: EntryType, data: &[u8]) -> Raw<'_> {
    Raw {
        name: b"PaxHeader",
        kind,
        data,
        link: b"",
    }
}

/// Overwrites the little-endian `u32` at `offset` after every `signature`.
fn patch_u32(bytes: &mut [u8], signature: [u8; 4], offset: usize, value: u32) {
    let positions: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == signature)
        .map(|(i, _)| i)
        .collect();
    for at in positions {
        bytes[at + offset..at + offset + 4].copy_from_slice(&value.to_le_bytes());
    }
}

fn patch_u16(bytes: &mut [u8], signature: [u8; 4], offset: usize, value: u16) {
    let positions: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == signature)
        .map(|(i, _)| i)
        .collect();
    for at in positions {
        bytes[at + offset..at + offset + 2].copy_from_slice(&value.to_le_bytes());
    }
}

fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let positions: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert!(!positions.is_empty());
    for at in positions {
        bytes[at..at + to.len()].copy_from_slice(to);
    }
}

const LOCAL: [u8; 4] = *b"PK\x03\x04";
const CENTRAL: [u8; 4] = *b"PK\x01\x02";

fn check(filename: &str, bytes: &[u8]) -> Result<Inspected, UploadError> {
    inspect_bytes(filename, bytes, &Limits::default())
}

#[test]
fn valid_wheel_is_inspected_and_hashed() {
    let bytes = wheel_with(&[]);
    let inspected = check(WHEEL_NAME, &bytes).unwrap();
    assert_eq!(inspected.filename.as_str(), WHEEL_NAME);
    assert_eq!(inspected.metadata_bytes, META);
    assert_eq!(inspected.metadata.name().normalized(), "demo");
    assert_eq!(inspected.metadata.requires_python(), Some(">=3.9"));
    assert_eq!(inspected.sha256, sha256_hex(&bytes));
    assert_eq!(
        inspected.blake2b_256,
        bulwark_tuf::hex::encode(&HashAlgorithm::Blake2b256.digest(&bytes))
    );
    assert_eq!(inspected.blake2b_256.len(), 64);
    assert_eq!(inspected.size, bytes.len() as u64);
    assert_eq!(inspected.core_metadata_sha256(), Some(sha256_hex(META)));
}

#[test]
fn wheel_dist_info_may_be_spelled_like_older_tools_do() {
    let bytes = zip_of(&[
        (
            "Demo-1.0.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: Demo\nVersion: 1.0.0\n",
        ),
        ("Demo-1.0.0.dist-info/WHEEL", WHEEL),
    ]);
    let inspected = check(WHEEL_NAME, &bytes).unwrap();
    assert_eq!(inspected.metadata.version().to_string(), "1.0.0");
}

#[test]
fn stored_entries_and_directories_are_fine() {
    let bytes = zip_with(
        &[
            ("demo/", b""),
            ("demo-1.0.dist-info/METADATA", META),
            ("demo-1.0.dist-info/WHEEL", WHEEL),
        ],
        CompressionMethod::Stored,
    );
    assert!(check(WHEEL_NAME, &bytes).is_ok());
}

#[test]
fn valid_sdists_tar_gz_and_zip() {
    let bytes = sdist_with(&[]);
    let inspected = check(SDIST_NAME, &bytes).unwrap();
    assert_eq!(inspected.metadata_bytes, META);
    assert_eq!(inspected.sha256, sha256_hex(&bytes));

    let zipped = zip_of(&[("demo-1.0/PKG-INFO", META), ("demo-1.0/setup.py", b"")]);
    assert_eq!(check(SDIST_ZIP_NAME, &zipped).unwrap().metadata_bytes, META);
    // No `.metadata` is served for an sdist, whatever its format.
    assert_eq!(inspected.core_metadata_sha256(), None);
    assert_eq!(
        check(SDIST_ZIP_NAME, &zipped)
            .unwrap()
            .core_metadata_sha256(),
        None
    );

    // A legacy sdist keeps the name as the project spells it.
    let meta = b"Metadata-Version: 1.0\nName: Foo.Bar\nVersion: 1.0\n";
    let legacy = gz(&tar_of(&[
        file("Foo.Bar-1.0/PKG-INFO", meta),
        file("Foo.Bar-1.0/foo/bar.py", b""),
    ]));
    assert_eq!(
        check("Foo.Bar-1.0.tar.gz", &legacy)
            .unwrap()
            .metadata
            .name()
            .normalized(),
        "foo-bar"
    );
}

#[test]
fn sdist_with_long_names_directories_and_safe_links_passes() {
    let long = format!("demo-1.0/{}/file.py", "d".repeat(150));
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("demo-1.0/PKG-INFO", META),
        (long.as_str(), b"x".as_slice()),
    ] {
        let mut header = Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    }
    let mut tarball = builder.into_inner().unwrap();
    let link = tar_of(&[
        Raw {
            name: b"demo-1.0/sub",
            kind: EntryType::Directory,
            data: b"",
            link: b"",
        },
        Raw {
            name: b"demo-1.0/sub/link",
            kind: EntryType::Symlink,
            data: b"",
            link: b"../setup.py",
        },
        Raw {
            name: b"demo-1.0/hard",
            kind: EntryType::Link,
            data: b"",
            link: b"demo-1.0/PKG-INFO",
        },
    ]);
    // Splice the second archive's entries before the first one's end marker.
    tarball.truncate(tarball.len() - 1024);
    tarball.extend_from_slice(&link);
    assert!(check(SDIST_NAME, &gz(&tarball)).is_ok());
}

#[test]
fn pax_path_names_an_entry() {
    let record = pax_record("path", b"demo-1.0/PKG-INFO");
    let bytes = gz(&tar_of(&[
        pax(EntryType::XHeader, &record),
        file("ignored-name", META),
    ]));
    assert_eq!(check(SDIST_NAME, &bytes).unwrap().metadata_bytes, META);
    let comment = pax_record("comment", b"git archive");
    let bytes = gz(&tar_of(&[
        pax(EntryType::XGlobalHeader, &comment),
        file("demo-1.0/PKG-INFO", META),
    ]));
    assert!(check(SDIST_NAME, &bytes).is_ok());
}

#[test]
fn zip_bomb_is_refused_for_its_ratio() {
    let zeros = vec![0; 10 << 20];
    let bytes = wheel_with(&[("demo/zeros.bin", &zeros)]);
    assert!(
        bytes.len() < 100_000,
        "the bomb compresses well: {}",
        bytes.len()
    );
    assert_eq!(
        check(WHEEL_NAME, &bytes).unwrap_err(),
        UploadError::CompressionRatio { limit: 200 }
    );
}

#[test]
fn tar_gz_bomb_is_refused_for_its_ratio() {
    let zeros = vec![0; 10 << 20];
    let bytes = sdist_with(&[file("demo-1.0/zeros.bin", &zeros)]);
    assert!(bytes.len() < 100_000);
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        UploadError::CompressionRatio { limit: 200 }
    );
}

#[test]
fn bomb_that_lies_about_its_size_is_refused() {
    let zeros = vec![0; 10 << 20];
    let mut bytes = wheel_with(&[("demo/zeros.bin", &zeros)]);
    // Declare every entry as 10 bytes, in local and central headers alike.
    patch_u32(&mut bytes, LOCAL, 22, 10);
    patch_u32(&mut bytes, CENTRAL, 24, 10);
    let error = check(WHEEL_NAME, &bytes).unwrap_err();
    assert!(
        matches!(
            error,
            UploadError::CorruptEntry { .. } | UploadError::SizeMismatch { .. }
        ),
        "{error:?}"
    );
}

#[test]
fn size_caps_apply_while_inflating() {
    let data = vec![7; 300_000];
    let tight = Limits {
        max_entry_size: 100_000,
        ..Limits::default()
    };
    let bytes = wheel_with(&[("demo/data.bin", &data)]);
    assert_eq!(
        inspect_bytes(WHEEL_NAME, &bytes, &tight).unwrap_err(),
        UploadError::EntryTooLarge {
            name: "\"demo/data.bin\"".to_owned(),
            limit: 100_000
        }
    );
    let sdist = sdist_with(&[file("demo-1.0/data.bin", &data)]);
    assert!(matches!(
        inspect_bytes(SDIST_NAME, &sdist, &tight).unwrap_err(),
        UploadError::EntryTooLarge { limit: 100_000, .. }
    ));

    let total = Limits {
        max_total_size: 200_000,
        ..Limits::default()
    };
    let bytes = wheel_with(&[
        ("demo/a.bin", &data[..150_000]),
        ("demo/b.bin", &data[..150_000]),
    ]);
    assert_eq!(
        inspect_bytes(WHEEL_NAME, &bytes, &total).unwrap_err(),
        UploadError::TotalTooLarge { limit: 200_000 }
    );
    assert_eq!(
        inspect_bytes(SDIST_NAME, &sdist, &total).unwrap_err(),
        UploadError::TotalTooLarge { limit: 200_000 }
    );
}

#[test]
fn entry_count_is_capped() {
    let few = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    assert_eq!(
        inspect_bytes(WHEEL_NAME, &wheel_with(&[]), &few).unwrap_err(),
        UploadError::TooManyEntries { limit: 3 }
    );
    let sdist = sdist_with(&[file("demo-1.0/a", b""), file("demo-1.0/b", b"")]);
    assert_eq!(
        inspect_bytes(SDIST_NAME, &sdist, &few).unwrap_err(),
        UploadError::TooManyEntries { limit: 3 }
    );
    // A forged end-of-central-directory count is refused before the zip
    // crate reads the directory.
    let mut forged = wheel_with(&[]);
    let eocd = forged.len() - 22;
    forged[eocd + 8..eocd + 12].copy_from_slice(&[0xff; 4]);
    let mut reader = Cursor::new(&forged);
    let tail = zipped::Tail::read(&mut reader).unwrap();
    assert_eq!(tail.declared_entries(&mut reader).unwrap(), 0xffff);
    assert_eq!(
        inspect_bytes(
            WHEEL_NAME,
            &forged,
            &Limits {
                max_entries: 1000,
                ..Limits::default()
            }
        )
        .unwrap_err(),
        UploadError::TooManyEntries { limit: 1000 }
    );
}

#[test]
fn zip_path_tricks_are_refused() {
    for (name, problem) in [
        ("../evil.py", PathProblem::ParentComponent),
        ("demo/../../evil.py", PathProblem::ParentComponent),
        ("/etc/evil", PathProblem::Absolute),
        ("C:/evil", PathProblem::Absolute),
        ("demo\\..\\evil", PathProblem::Backslash),
        ("demo//x", PathProblem::NotNormalized),
        ("./demo/x", PathProblem::NotNormalized),
    ] {
        let bytes = wheel_with(&[(name, b"x")]);
        assert_eq!(
            check(WHEEL_NAME, &bytes).unwrap_err(),
            UploadError::UnsafePath {
                name: format!("{name:?}"),
                problem
            },
            "{name}"
        );
    }
    let mut bytes = wheel_with(&[("demo/xNULx", b"x")]);
    replace_all(&mut bytes, b"xNULx", b"x\0\0\0x");
    assert!(matches!(
        check(WHEEL_NAME, &bytes).unwrap_err(),
        UploadError::UnsafePath {
            problem: PathProblem::Nul,
            ..
        }
    ));
}

#[test]
fn tar_path_tricks_and_special_entries_are_refused() {
    let unsafe_path = |name: &str| -> UploadError {
        check(SDIST_NAME, &sdist_with(&[file(name, b"x")])).unwrap_err()
    };
    assert!(matches!(
        unsafe_path("../evil"),
        UploadError::UnsafePath {
            problem: PathProblem::ParentComponent,
            ..
        }
    ));
    assert!(matches!(
        unsafe_path("/etc/evil"),
        UploadError::UnsafePath {
            problem: PathProblem::Absolute,
            ..
        }
    ));
    assert!(matches!(
        unsafe_path("demo-1.0\\x"),
        UploadError::UnsafePath {
            problem: PathProblem::Backslash,
            ..
        }
    ));
    assert_eq!(
        unsafe_path("demo-1.0/"),
        UploadError::FileNamedLikeDirectory {
            name: shown("demo-1.0/")
        }
    );

    let link = |kind, target: &'static [u8]| -> UploadError {
        let entry = Raw {
            name: b"demo-1.0/link",
            kind,
            data: b"",
            link: target,
        };
        check(SDIST_NAME, &sdist_with(&[entry])).unwrap_err()
    };
    let unsafe_link = |problem| UploadError::UnsafeLink {
        name: "\"demo-1.0/link\"".to_owned(),
        problem,
    };
    assert_eq!(
        link(EntryType::Symlink, b"../../etc/passwd"),
        unsafe_link(LinkProblem::Outside)
    );
    assert_eq!(
        link(EntryType::Symlink, b"/etc/passwd"),
        unsafe_link(LinkProblem::Absolute)
    );
    assert_eq!(
        link(EntryType::Link, b"../outside"),
        unsafe_link(LinkProblem::NotEarlierFile)
    );
    assert_eq!(
        link(EntryType::Link, b"/etc/passwd"),
        unsafe_link(LinkProblem::Absolute)
    );

    for kind in [
        EntryType::Char,
        EntryType::Block,
        EntryType::Fifo,
        EntryType::GNUSparse,
    ] {
        let entry = Raw {
            name: b"demo-1.0/dev",
            kind,
            data: b"",
            link: b"",
        };
        assert!(
            matches!(
                check(SDIST_NAME, &sdist_with(&[entry])).unwrap_err(),
                UploadError::UnsupportedEntryType { .. }
            ),
            "{kind:?}"
        );
    }
    let bad_utf8 = Raw {
        name: b"demo-1.0/\xff",
        kind: EntryType::Regular,
        data: b"",
        link: b"",
    };
    assert!(matches!(
        check(SDIST_NAME, &sdist_with(&[bad_utf8])).unwrap_err(),
        UploadError::UnsafePath {
            problem: PathProblem::NotUtf8,
            ..
        }
    ));
}

#[test]
fn ambiguous_tar_extension_headers_are_refused() {
    // A pax size that contradicts the header size: readers would frame the
    // stream differently.
    let size = pax_record("size", b"5");
    let bytes = gz(&tar_of(&[
        pax(EntryType::XHeader, &size),
        file("demo-1.0/PKG-INFO", META),
    ]));
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        UploadError::BadExtensionHeader
    );
    // A global header that would rename every later member.
    let path = pax_record("path", b"demo-1.0/PKG-INFO");
    let bytes = gz(&tar_of(&[
        pax(EntryType::XGlobalHeader, &path),
        file("demo-1.0/PKG-INFO", META),
    ]));
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        UploadError::BadExtensionHeader
    );
    // Two pax headers for one member, and a dangling one at the end.
    let bytes = gz(&tar_of(&[
        pax(EntryType::XHeader, &path),
        pax(EntryType::XHeader, &path),
        file("x", META),
    ]));
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        UploadError::BadExtensionHeader
    );
    let bytes = gz(&tar_of(&[
        file("demo-1.0/PKG-INFO", META),
        pax(EntryType::XHeader, &path),
    ]));
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        UploadError::BadExtensionHeader
    );
    // Duplicate keys, malformed records, sparse keys, oversized headers.
    let twice = [path.clone(), path.clone()].concat();
    for data in [
        twice,
        b"99 path=x\n".to_vec(),
        pax_record("GNU.sparse.map", b"0,1"),
        vec![b'a'; 70_000],
    ] {
        let bytes = gz(&tar_of(&[
            pax(EntryType::XHeader, &data),
            file("demo-1.0/PKG-INFO", META),
        ]));
        assert_eq!(
            check(SDIST_NAME, &bytes).unwrap_err(),
            UploadError::BadExtensionHeader
        );
    }
    // A GNU long name and a pax path for the same member.
    let long_name = Raw {
        name: b"././@LongLink",
        kind: EntryType::GNULongName,
        data: b"demo-1.0/PKG-INFO\0",
        link: b"",
    };
    let bytes = gz(&tar_of(&[long_name, file("x", META)]));
    assert!(check(SDIST_NAME, &bytes).is_ok());
    let bytes = gz(&tar_of(&[
        long_name,
        pax(EntryType::XHeader, &path),
        file("x", META),
    ]));
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        UploadError::BadExtensionHeader
    );
}

#[test]
fn wheel_layout_is_checked() {
    let other_name = zip_of(&[
        ("other-1.0.dist-info/METADATA", META),
        ("other-1.0.dist-info/WHEEL", WHEEL),
    ]);
    assert_eq!(
        check(WHEEL_NAME, &other_name).unwrap_err(),
        UploadError::DistInfoMismatch {
            found: "\"other-1.0.dist-info\"".to_owned()
        }
    );
    let other_version = zip_of(&[
        ("demo-2.0.dist-info/METADATA", META),
        ("demo-2.0.dist-info/WHEEL", WHEEL),
    ]);
    assert!(matches!(
        check(WHEEL_NAME, &other_version).unwrap_err(),
        UploadError::DistInfoMismatch { .. }
    ));
    let two = wheel_with(&[("extra-1.0.dist-info/METADATA", META)]);
    assert_eq!(
        check(WHEEL_NAME, &two).unwrap_err(),
        UploadError::MultipleDistInfo
    );
    let none = zip_of(&[("demo/__init__.py", b"")]);
    assert_eq!(
        check(WHEEL_NAME, &none).unwrap_err(),
        UploadError::MissingDistInfo
    );
    let no_metadata = zip_of(&[("demo-1.0.dist-info/WHEEL", WHEEL)]);
    assert_eq!(
        check(WHEEL_NAME, &no_metadata).unwrap_err(),
        UploadError::MissingMetadata
    );
    let nested = zip_of(&[
        ("demo/demo-1.0.dist-info/METADATA", META),
        ("demo-1.0.dist-info/WHEEL", WHEEL),
    ]);
    assert_eq!(
        check(WHEEL_NAME, &nested).unwrap_err(),
        UploadError::MissingMetadata
    );
    let no_wheel = zip_of(&[("demo-1.0.dist-info/METADATA", META)]);
    assert_eq!(
        check(WHEEL_NAME, &no_wheel).unwrap_err(),
        UploadError::MissingWheelFile
    );
    let dir = zip_of(&[
        ("demo-1.0.dist-info/METADATA/", b""),
        ("demo-1.0.dist-info/WHEEL", WHEEL),
    ]);
    assert_eq!(
        check(WHEEL_NAME, &dir).unwrap_err(),
        UploadError::MetadataNotFile
    );
}

#[test]
fn duplicate_entries_are_refused() {
    // The zip writer refuses duplicate names, so rename one afterwards.
    let mut bytes = wheel_with(&[(
        "demo-1.0.dist-info/METADATX",
        b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n",
    )]);
    replace_all(&mut bytes, b"METADATX", b"METADATA");
    assert_eq!(
        check(WHEEL_NAME, &bytes).unwrap_err(),
        UploadError::DuplicateZipName
    );

    let tarred = sdist_with(&[file(
        "demo-1.0/PKG-INFO",
        b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n",
    )]);
    assert_eq!(
        check(SDIST_NAME, &tarred).unwrap_err(),
        UploadError::DuplicateEntry {
            name: "\"demo-1.0/PKG-INFO\"".to_owned()
        }
    );
    let other_file = sdist_with(&[file("demo-1.0/setup.py", b"again")]);
    assert_eq!(
        check(SDIST_NAME, &other_file).unwrap_err(),
        UploadError::DuplicateEntry {
            name: "\"demo-1.0/setup.py\"".to_owned()
        }
    );
}

#[test]
fn sdist_layout_is_checked() {
    let two = gz(&tar_of(&[
        file("demo-1.0/PKG-INFO", META),
        file("demo-1.0.0/PKG-INFO", META),
    ]));
    assert_eq!(
        check(SDIST_NAME, &two).unwrap_err(),
        UploadError::MultipleMetadata
    );
    let wrong_dir = gz(&tar_of(&[file("other-1.0/PKG-INFO", META)]));
    assert_eq!(
        check(SDIST_NAME, &wrong_dir).unwrap_err(),
        UploadError::SdistDirMismatch {
            found: "\"other-1.0\"".to_owned()
        }
    );
    let nested = gz(&tar_of(&[file("demo-1.0/demo.egg-info/PKG-INFO", META)]));
    assert_eq!(
        check(SDIST_NAME, &nested).unwrap_err(),
        UploadError::MissingMetadata
    );
    let top_level = gz(&tar_of(&[file("PKG-INFO", META)]));
    assert_eq!(
        check(SDIST_NAME, &top_level).unwrap_err(),
        UploadError::MissingMetadata
    );
    let link = Raw {
        name: b"demo-1.0/PKG-INFO",
        kind: EntryType::Symlink,
        data: b"",
        link: b"other",
    };
    let linked = gz(&tar_of(&[file("demo-1.0/other", META), link]));
    assert_eq!(
        check(SDIST_NAME, &linked).unwrap_err(),
        UploadError::MetadataNotFile
    );
    let zipped = zip_of(&[("demo-1.0/setup.py", b"")]);
    assert_eq!(
        check(SDIST_ZIP_NAME, &zipped).unwrap_err(),
        UploadError::MissingMetadata
    );
}

#[test]
fn metadata_must_agree_with_the_filename() {
    let other = b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n";
    let bytes = zip_of(&[
        ("demo-1.0.dist-info/METADATA", other),
        ("demo-1.0.dist-info/WHEEL", WHEEL),
    ]);
    assert_eq!(
        check(WHEEL_NAME, &bytes).unwrap_err(),
        UploadError::NameMismatch {
            filename: "demo".to_owned(),
            metadata: "other".to_owned()
        }
    );
    let newer = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.1\n";
    let bytes = gz(&tar_of(&[file("demo-1.0/PKG-INFO", newer)]));
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        UploadError::VersionMismatch {
            filename: "1.0".to_owned(),
            metadata: "1.1".to_owned()
        }
    );
    // Normalized comparison: spelling differences are not mismatches.
    let spelled = b"Metadata-Version: 2.1\nName: DEMO\nVersion: 1.0.0\n";
    let bytes = zip_of(&[
        ("demo-1.0.dist-info/METADATA", spelled),
        ("demo-1.0.dist-info/WHEEL", WHEEL),
    ]);
    assert!(check(WHEEL_NAME, &bytes).is_ok());
}

#[test]
fn metadata_file_is_bounded_and_parsed() {
    // Incompressible, so that the ratio cap does not fire first.
    let mut huge = META.to_vec();
    let mut state = 1_u32;
    huge.extend((0..=MAX_METADATA_SIZE).map(|_| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        b"abcdefghijklmnopqrstuvwxyz"[(state >> 16) as usize % 26]
    }));
    let bytes = zip_of(&[
        ("demo-1.0.dist-info/METADATA", &huge),
        ("demo-1.0.dist-info/WHEEL", WHEEL),
    ]);
    assert_eq!(
        check(WHEEL_NAME, &bytes).unwrap_err(),
        UploadError::MetadataTooLarge
    );
    let sdist = gz(&tar_of(&[file("demo-1.0/PKG-INFO", &huge)]));
    assert_eq!(
        check(SDIST_NAME, &sdist).unwrap_err(),
        UploadError::MetadataTooLarge
    );
    let invalid = zip_of(&[
        ("demo-1.0.dist-info/METADATA", b"Name: demo\n"),
        ("demo-1.0.dist-info/WHEEL", WHEEL),
    ]);
    assert_eq!(
        check(WHEEL_NAME, &invalid).unwrap_err(),
        UploadError::Metadata(MetadataError::Missing {
            field: "Metadata-Version"
        })
    );
}

#[test]
fn truncated_and_garbage_archives_are_refused() {
    let wheel = wheel_with(&[]);
    for cut in [0, 10, wheel.len() / 2, wheel.len() - 1] {
        assert_eq!(
            check(WHEEL_NAME, &wheel[..cut]).unwrap_err(),
            UploadError::InvalidZip,
            "cut at {cut}"
        );
    }
    let sdist = sdist_with(&[]);
    for cut in [0, 10, sdist.len() / 2, sdist.len() - 4] {
        let error = check(SDIST_NAME, &sdist[..cut]).unwrap_err();
        assert!(
            matches!(error, UploadError::InvalidGzip | UploadError::InvalidTar),
            "cut at {cut}: {error:?}"
        );
    }
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[2])
        .collect();
    assert_eq!(
        check(WHEEL_NAME, &garbage).unwrap_err(),
        UploadError::InvalidZip
    );
    assert_eq!(
        check(SDIST_NAME, &garbage).unwrap_err(),
        UploadError::InvalidGzip
    );
    assert_eq!(
        check(SDIST_ZIP_NAME, &garbage).unwrap_err(),
        UploadError::InvalidZip
    );
    // A wheel with a sdist name and the other way round.
    assert_eq!(
        check(SDIST_NAME, &wheel).unwrap_err(),
        UploadError::InvalidGzip
    );
    assert_eq!(
        check(WHEEL_NAME, &sdist).unwrap_err(),
        UploadError::InvalidZip
    );
    // Valid gzip of something that is not tar.
    let error = check(SDIST_NAME, &gz(&garbage)).unwrap_err();
    assert_eq!(error, UploadError::InvalidTar);
}

#[test]
fn corrupt_entry_data_is_refused() {
    let mut bytes = wheel_with(&[("demo/data.py", &[b'a'; 5000])]);
    // Flip a byte inside the compressed data of the first entry's neighbour.
    let at = bytes
        .windows(12)
        .position(|w| w == b"demo/data.py")
        .unwrap()
        + 20;
    bytes[at] ^= 0xff;
    let error = check(WHEEL_NAME, &bytes).unwrap_err();
    assert!(
        matches!(
            error,
            UploadError::CorruptEntry { .. }
                | UploadError::SizeMismatch { .. }
                | UploadError::InconsistentZip
        ),
        "{error:?}"
    );
}

#[test]
fn data_around_the_archive_is_refused() {
    let mut prefixed = b"#!/bin/sh\nexit 0\n".to_vec();
    prefixed.extend_from_slice(&wheel_with(&[]));
    assert_eq!(
        check(WHEEL_NAME, &prefixed).unwrap_err(),
        UploadError::DataBeforeArchive
    );

    let mut trailing = sdist_with(&[]);
    trailing.extend_from_slice(b"garbage");
    assert_eq!(
        check(SDIST_NAME, &trailing).unwrap_err(),
        UploadError::InvalidGzip
    );

    let mut tarball = tar_of(&[file("demo-1.0/PKG-INFO", META)]);
    tarball.extend_from_slice(&[b'x'; 512]);
    assert_eq!(
        check(SDIST_NAME, &gz(&tarball)).unwrap_err(),
        UploadError::TrailingData
    );

    // Two gzip members are one stream, as Python's gzip module reads them.
    let tarball = tar_of(&[file("demo-1.0/PKG-INFO", META)]);
    let (first, second) = tarball.split_at(700);
    let two_members = [gz(first), gz(second)].concat();
    assert!(check(SDIST_NAME, &two_members).is_ok());
}

#[test]
fn inconsistent_zip_headers_are_refused() {
    // The local header names a different file than the central directory:
    // a streaming reader would see another METADATA than zipfile does.
    let mut bytes = wheel_with(&[]);
    let local = bytes.windows(4).position(|w| *w == LOCAL).unwrap();
    let name_at = local + 30;
    bytes[name_at] = b'X';
    assert_eq!(
        check(WHEEL_NAME, &bytes).unwrap_err(),
        UploadError::InconsistentZip
    );
}

#[test]
fn a_second_end_record_in_the_comment_is_refused() {
    // Python's zipfile reads the last end record even when its comment
    // length does not fit the file; the zip crate would not.
    let wheel = wheel_with(&[]);
    let mut hidden = wheel[..wheel.len() - 2].to_vec();
    let mut fake = wheel[wheel.len() - 22..].to_vec();
    fake[20] = 5;
    hidden.extend_from_slice(&u16::try_from(fake.len()).unwrap().to_le_bytes());
    hidden.extend_from_slice(&fake);
    assert_eq!(
        check(WHEEL_NAME, &hidden).unwrap_err(),
        UploadError::InconsistentZip
    );
    // Where both readers take the same last record, all is well.
    fake[20] = 0;
    let mut same = wheel[..wheel.len() - 2].to_vec();
    same.extend_from_slice(&22_u16.to_le_bytes());
    same.extend_from_slice(&fake);
    assert!(check(WHEEL_NAME, &same).is_ok());
    // Data after the archive is refused too.
    let mut trailing = wheel.clone();
    trailing.extend_from_slice(b"trailing");
    assert!(check(WHEEL_NAME, &trailing).is_err());
    // An ordinary comment is fine.
    let mut commented = wheel[..wheel.len() - 2].to_vec();
    commented.extend_from_slice(&7_u16.to_le_bytes());
    commented.extend_from_slice(b"comment");
    assert!(check(WHEEL_NAME, &commented).is_ok());
}

#[test]
fn a_dist_info_directory_entry_counts_as_a_dist_info() {
    let two = wheel_with(&[("other-1.0.dist-info/", b"")]);
    assert_eq!(
        check(WHEEL_NAME, &two).unwrap_err(),
        UploadError::MultipleDistInfo
    );
}

#[test]
fn encrypted_and_unsupported_entries_are_refused() {
    let mut bytes = wheel_with(&[]);
    patch_u16(&mut bytes, LOCAL, 6, 1);
    patch_u16(&mut bytes, CENTRAL, 8, 1);
    assert!(matches!(
        check(WHEEL_NAME, &bytes).unwrap_err(),
        UploadError::EncryptedEntry { .. }
    ));

    let mut bytes = wheel_with(&[]);
    patch_u16(&mut bytes, LOCAL, 8, 12);
    patch_u16(&mut bytes, CENTRAL, 10, 12);
    assert!(matches!(
        check(WHEEL_NAME, &bytes).unwrap_err(),
        UploadError::UnsupportedCompression { .. }
    ));
}

#[test]
fn filename_is_checked_first() {
    assert_eq!(
        check("../demo-1.0.tar.gz", &sdist_with(&[])).unwrap_err(),
        UploadError::Filename(FilenameError::PathSeparator)
    );
    assert_eq!(
        check("demo-1.0.tar.bz2", b"").unwrap_err(),
        UploadError::Filename(FilenameError::UnsupportedExtension)
    );
}

#[test]
fn error_messages_are_lowercase_and_escape_entry_names() {
    let bytes = wheel_with(&[("demo/\u{1b}[31mred\n", b"x")]);
    let error = check(WHEEL_NAME, &bytes).unwrap_err();
    assert!(matches!(
        error,
        UploadError::UnsafePath {
            problem: PathProblem::ControlCharacter,
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        !message.contains('\n') && !message.contains('\u{1b}'),
        "{message}"
    );
    assert!(message.starts_with("entry "), "{message}");
    for error in [
        UploadError::InvalidZip,
        UploadError::MissingMetadata,
        UploadError::CompressionRatio { limit: 1 },
        UploadError::TooManyEntries { limit: 1 },
    ] {
        let text = error.to_string();
        assert!(
            text.starts_with(|c: char| c.is_lowercase()) && !text.ends_with('.'),
            "{text}"
        );
    }
}

/// Links `demo-1.0/<prefix>0` … `<prefix><last>`: the first to `first`,
/// each next one to the one before it, and the last to `last_target`
/// instead when given. Returns their names and targets.
fn link_chain(
    prefix: &str,
    first: &str,
    last: usize,
    last_target: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let names = (0..=last)
        .map(|i| format!("demo-1.0/{prefix}{i}"))
        .collect();
    let targets = (0..=last)
        .map(|i| match (i, last_target) {
            (0, _) => first.to_owned(),
            (i, Some(target)) if i == last => target.to_owned(),
            (i, _) => format!("{prefix}{}", i - 1),
        })
        .collect();
    (names, targets)
}

fn symlink<'a>(name: &'a str, target: &'a str) -> Raw<'a> {
    Raw {
        name: name.as_bytes(),
        kind: EntryType::Symlink,
        data: b"",
        link: target.as_bytes(),
    }
}

fn directory(name: &str) -> Raw<'_> {
    Raw {
        name: name.as_bytes(),
        kind: EntryType::Directory,
        data: b"",
        link: b"",
    }
}

fn unsafe_link(name: &str, problem: LinkProblem) -> UploadError {
    UploadError::UnsafeLink {
        name: shown(name),
        problem,
    }
}

#[test]
fn a_link_chain_that_climbs_through_an_earlier_link_is_refused() {
    // Issue #10: each target stays inside as text, but `l1` already
    // climbs to the top, so `l2` ends one level above it.
    let bytes = sdist_with(&[
        directory("a"),
        directory("a/b"),
        symlink("a/b/l1", "../.."),
        symlink("l2", "a/b/l1/../../.."),
        file("l2/pwned.txt", b"x"),
    ]);
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        unsafe_link("l2", LinkProblem::Outside)
    );
}

#[test]
fn entries_written_through_a_link_are_refused() {
    // Issue #10: `d -> ..` then `d/x.txt`. At the top `d` itself escapes;
    // one level down it stays inside and the entry goes through it.
    let top = sdist_with(&[symlink("d", ".."), file("d/x.txt", b"x")]);
    assert_eq!(
        check(SDIST_NAME, &top).unwrap_err(),
        unsafe_link("d", LinkProblem::Outside)
    );
    let nested = sdist_with(&[symlink("demo-1.0/d", ".."), file("demo-1.0/d/x.txt", b"x")]);
    assert_eq!(
        check(SDIST_NAME, &nested).unwrap_err(),
        UploadError::WrittenThroughLink {
            name: shown("demo-1.0/d/x.txt"),
            link: shown("demo-1.0/d"),
        }
    );
    // Even a link that stays inside (`d -> sub`).
    let inside = sdist_with(&[
        directory("demo-1.0/sub"),
        symlink("demo-1.0/d", "sub"),
        file("demo-1.0/d/x.txt", b"x"),
    ]);
    assert!(matches!(
        check(SDIST_NAME, &inside).unwrap_err(),
        UploadError::WrittenThroughLink { .. }
    ));
}

#[test]
fn a_second_pkg_info_through_a_dot_link_is_refused() {
    // Issue #10: `d -> .` makes `d/PKG-INFO` land on `PKG-INFO`, so an
    // extractor could see a different one than the index checked.
    let evil = b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n";
    let bytes = gz(&tar_of(&[
        symlink("demo-1.0/d", "."),
        file("demo-1.0/d/PKG-INFO", evil),
        file("demo-1.0/PKG-INFO", META),
    ]));
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        UploadError::WrittenThroughLink {
            name: shown("demo-1.0/d/PKG-INFO"),
            link: shown("demo-1.0/d"),
        }
    );
}

#[test]
fn long_link_chains_and_loops_are_refused() {
    // Issue #10: twelve links that each resolve to the top of the archive,
    // and a thirteenth that climbs one more level through them.
    let (names, targets) = link_chain("l", "..", 12, Some("l11/.."));
    let chain: Vec<Raw<'_>> = names
        .iter()
        .zip(&targets)
        .map(|(name, target)| symlink(name, target))
        .collect();
    assert!(check(SDIST_NAME, &sdist_with(&chain[..12])).is_ok());
    assert_eq!(
        check(SDIST_NAME, &sdist_with(&chain)).unwrap_err(),
        unsafe_link("demo-1.0/l12", LinkProblem::Outside)
    );

    // Linux gives up after 40 links (ELOOP); so does the check.
    let (names, targets) = link_chain("c", ".", 41, None);
    let chain: Vec<Raw<'_>> = names
        .iter()
        .zip(&targets)
        .map(|(name, target)| symlink(name, target))
        .collect();
    assert!(check(SDIST_NAME, &sdist_with(&chain[..41])).is_ok());
    assert_eq!(
        check(SDIST_NAME, &sdist_with(&chain)).unwrap_err(),
        unsafe_link("demo-1.0/c41", LinkProblem::Loop)
    );
}

#[test]
fn a_later_link_cannot_redirect_an_earlier_one() {
    // When `l` is extracted `s` does not exist and `s/../..` is the top;
    // once `s -> ..` is extracted, `l` points above the archive.
    let bytes = sdist_with(&[
        symlink("demo-1.0/l", "s/../.."),
        symlink("demo-1.0/s", ".."),
    ]);
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        unsafe_link("demo-1.0/l", LinkProblem::Outside)
    );
}

#[test]
fn harmless_links_inside_the_tree_pass() {
    // A link to a file that comes later, a link to a directory, and a hard
    // link to an earlier file: what real sdists hold.
    let bytes = sdist_with(&[
        directory("demo-1.0/pkg"),
        symlink("demo-1.0/pkg/README", "../README"),
        file("demo-1.0/README", b"readme"),
        directory("demo-1.0/doc"),
        symlink("demo-1.0/docs", "doc"),
        Raw {
            name: b"demo-1.0/setup.cfg",
            kind: EntryType::Link,
            data: b"",
            link: b"demo-1.0/setup.py",
        },
        directory("demo-1.0/pkg"),
    ]);
    assert!(check(SDIST_NAME, &bytes).is_ok());
}

#[test]
fn entries_inside_a_file_or_on_a_directory_are_refused() {
    let inside_file = sdist_with(&[file("demo-1.0/setup.py/x", b"")]);
    assert_eq!(
        check(SDIST_NAME, &inside_file).unwrap_err(),
        UploadError::ParentNotDirectory {
            name: shown("demo-1.0/setup.py/x"),
            parent: shown("demo-1.0/setup.py"),
        }
    );
    let file_on_directory = sdist_with(&[file("demo-1.0", b"")]);
    assert_eq!(
        check(SDIST_NAME, &file_on_directory).unwrap_err(),
        UploadError::DuplicateEntry {
            name: shown("demo-1.0")
        }
    );
    let link_on_directory = sdist_with(&[symlink("demo-1.0", "x")]);
    assert!(matches!(
        check(SDIST_NAME, &link_on_directory).unwrap_err(),
        UploadError::DuplicateEntry { .. }
    ));
}

fn zip_with_symlink(first: (&str, &[u8]), link: &str, target: &str) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    writer.start_file(first.0, options).unwrap();
    writer.write_all(first.1).unwrap();
    writer
        .start_file("demo-1.0.dist-info/WHEEL", options)
        .unwrap();
    writer.write_all(WHEEL).unwrap();
    writer.add_symlink(link, target, options).unwrap();
    writer.finish().unwrap().into_inner()
}

#[test]
fn zip_symlinks_are_refused() {
    // Issue #10: pip and uv create a zip entry whose mode is S_IFLNK as a
    // link.
    let wheel = zip_with_symlink(
        ("demo-1.0.dist-info/METADATA", META),
        "demo/passwd",
        "/etc/passwd",
    );
    assert_eq!(
        check(WHEEL_NAME, &wheel).unwrap_err(),
        UploadError::ZipSymlink {
            name: shown("demo/passwd")
        }
    );
    let sdist = zip_with_symlink(("demo-1.0/PKG-INFO", META), "demo-1.0/link", "setup.py");
    assert_eq!(
        check(SDIST_ZIP_NAME, &sdist).unwrap_err(),
        UploadError::ZipSymlink {
            name: shown("demo-1.0/link")
        }
    );
    // Other special types in the mode are refused too (a FIFO here).
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in [
        ("demo-1.0.dist-info/METADATA", META),
        ("demo-1.0.dist-info/WHEEL", WHEEL),
    ] {
        writer
            .start_file(name, SimpleFileOptions::default())
            .unwrap();
        writer.write_all(data).unwrap();
    }
    writer
        .start_file(
            "demo/fifo",
            SimpleFileOptions::default().external_attributes(0o010_644 << 16),
        )
        .unwrap();
    let fifo = writer.finish().unwrap().into_inner();
    assert_eq!(
        check(WHEEL_NAME, &fifo).unwrap_err(),
        UploadError::UnsupportedEntryType {
            name: shown("demo/fifo")
        }
    );
}

#[test]
fn names_differing_only_in_case_are_refused() {
    // Issue #10: `delta.py` and `DELTA.py` would be one file on macOS
    // and Windows.
    let wheel = wheel_with(&[("demo/delta.py", b"a"), ("demo/DELTA.py", b"b")]);
    assert_eq!(
        check(WHEEL_NAME, &wheel).unwrap_err(),
        UploadError::CaseClash {
            first: shown("demo/delta.py"),
            second: shown("demo/DELTA.py"),
        }
    );
    // A directory counts, and so does a fold beyond ASCII.
    let directories = wheel_with(&[("Demo/b.py", b"")]);
    assert_eq!(
        check(WHEEL_NAME, &directories).unwrap_err(),
        UploadError::CaseClash {
            first: shown("demo"),
            second: shown("Demo/b.py"),
        }
    );
    let eszett = wheel_with(&[("demo/straße.py", b""), ("demo/STRASSE.py", b"")]);
    assert!(matches!(
        check(WHEEL_NAME, &eszett).unwrap_err(),
        UploadError::CaseClash { .. }
    ));
    // The same in an sdist, where the link would otherwise be harmless.
    let sdist = sdist_with(&[symlink("demo-1.0/D", "."), file("demo-1.0/d/x", b"")]);
    assert_eq!(
        check(SDIST_NAME, &sdist).unwrap_err(),
        UploadError::CaseClash {
            first: shown("demo-1.0/D"),
            second: shown("demo-1.0/d/x"),
        }
    );
}

#[test]
fn inspection_reads_a_file_hashed_while_it_was_written() {
    let bytes = sdist_with(&[]);
    let path = std::env::temp_dir().join(format!("bulwark-pypi-inspect-{}", std::process::id()));
    let file = std::fs::File::create_new(&path).unwrap();
    let mut writer = DigestWriter::new(file);
    for chunk in bytes.chunks(100) {
        writer.write_all(chunk).unwrap();
    }
    let (mut file, digests) = writer.finish();
    std::fs::remove_file(&path).unwrap();
    let mut file_reopened = file.try_clone().unwrap();
    // The file is read from its start although its position is at the end.
    let inspected = inspect(SDIST_NAME, &mut file, digests, &Limits::default()).unwrap();
    assert_eq!(inspected, check(SDIST_NAME, &bytes).unwrap());
    assert_eq!(inspected.sha256, sha256_hex(&bytes));
    let mut again = Vec::new();
    std::io::Seek::rewind(&mut file_reopened).unwrap();
    std::io::Read::read_to_end(&mut file_reopened, &mut again).unwrap();
    assert_eq!(again, bytes);
}

/// A reader over `bytes` that fails once more than `good` bytes are read.
struct FailingAfter {
    inner: Cursor<Vec<u8>>,
    good: u64,
}

impl std::io::Read for FailingAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.inner.position() >= self.good {
            return Err(std::io::Error::other("disk error"));
        }
        self.inner.read(buf)
    }
}

impl std::io::Seek for FailingAfter {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn a_read_error_is_not_reported_as_a_corrupt_archive() {
    let zeros = vec![7; 300_000];
    for (name, bytes) in [
        (SDIST_NAME, sdist_with(&[file("demo-1.0/big", &zeros)])),
        (WHEEL_NAME, wheel_with(&[("demo/big", &zeros)])),
    ] {
        let digests = Digests::of(&bytes);
        let reader = FailingAfter {
            inner: Cursor::new(bytes),
            good: 40,
        };
        assert_eq!(
            inspect(name, reader, digests, &Limits::default()).unwrap_err(),
            UploadError::Read {
                kind: std::io::ErrorKind::Other
            },
            "{name}"
        );
    }
}

/// One tar header block written byte for byte: any type byte (even the
/// old-style `\0`) and any size, whatever the type.
fn header_block(name: &str, kind: u8, size: u64, link: &str) -> Vec<u8> {
    let mut header = Header::new_gnu();
    let old = header.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_size(size);
    header.set_mode(0o644);
    header.as_old_mut().linkflag[0] = kind;
    header.set_cksum();
    header.as_bytes().to_vec()
}

/// `data` padded to whole 512-byte blocks.
fn blocks(data: &[u8]) -> Vec<u8> {
    let mut padded = data.to_vec();
    padded.resize(data.len().div_ceil(512) * 512, 0);
    padded
}

/// A `.tar.gz` of raw blocks, then a valid `demo-1.0/PKG-INFO` and the
/// end-of-archive marker.
fn sdist_of_blocks(raw: &[u8]) -> Vec<u8> {
    let mut tarball = raw.to_vec();
    tarball.extend(header_block(
        "demo-1.0/PKG-INFO",
        b'0',
        META.len() as u64,
        "",
    ));
    tarball.extend(blocks(META));
    tarball.extend([0; 1024]);
    gz(&tarball)
}

/// Three blocks that read as members to a reader that does not skip a
/// directory's or link's data (Python's `tarfile`): a link out of the
/// destination, a file written through it.
fn hidden_members() -> Vec<u8> {
    let mut hidden = header_block("demo-1.0/x", b'2', 0, "../../../../home/u/.ssh");
    hidden.extend(header_block("demo-1.0/x/authorized_keys", b'0', 8, ""));
    hidden.extend(blocks(b"ssh-rsa\n"));
    hidden
}

#[test]
fn a_directory_or_link_with_data_is_refused() {
    // The `tar` crate skips `size` bytes after every header, Python's
    // `tarfile` only after a regular file's: it reads the data of this
    // directory as the members hidden in it.
    let hidden = hidden_members();
    assert_eq!(hidden.len(), 1536);
    for (kind, link) in [(b'5', ""), (b'2', "sub"), (b'1', "demo-1.0/PKG-INFO")] {
        let name = if kind == b'5' {
            "demo-1.0/"
        } else {
            "demo-1.0/l"
        };
        let mut raw = Vec::new();
        if kind == b'1' {
            raw.extend(header_block(
                "demo-1.0/PKG-INFO",
                b'0',
                META.len() as u64,
                "",
            ));
            raw.extend(blocks(META));
        }
        raw.extend(header_block(name, kind, 1536, link));
        raw.extend(&hidden);
        let bytes = if kind == b'1' {
            let mut tarball = raw;
            tarball.extend([0; 1024]);
            gz(&tarball)
        } else {
            sdist_of_blocks(&raw)
        };
        assert_eq!(
            check(SDIST_NAME, &bytes).unwrap_err(),
            UploadError::NonFileWithData { name: shown(name) },
            "type {}",
            kind as char
        );
    }
    // The same with the size given in a pax header.
    let size = pax_record("size", b"1536");
    let mut raw = header_block("PaxHeader", b'x', size.len() as u64, "");
    raw.extend(blocks(&size));
    raw.extend(header_block("demo-1.0/sub", b'5', 1536, ""));
    raw.extend(&hidden);
    assert_eq!(
        check(SDIST_NAME, &sdist_of_blocks(&raw)).unwrap_err(),
        UploadError::NonFileWithData {
            name: shown("demo-1.0/sub")
        }
    );
    // Without data they pass.
    let mut raw = header_block("demo-1.0/", b'5', 0, "");
    raw.extend(header_block("demo-1.0/l", b'2', 0, "PKG-INFO"));
    assert!(check(SDIST_NAME, &sdist_of_blocks(&raw)).is_ok());
}

#[test]
fn an_old_style_file_named_like_a_directory_is_refused() {
    // Python's `tarfile` takes a type `\0` member whose name ends in `/`
    // for a directory, and so does not skip its data; a pax path (or a
    // GNU long name) gives the member a clean name for us.
    let path = pax_record("path", b"demo-1.0/sub");
    let mut raw = header_block("PaxHeader", b'x', path.len() as u64, "");
    raw.extend(blocks(&path));
    raw.extend(header_block("demo-1.0/sub/", 0, 1536, ""));
    raw.extend(hidden_members());
    assert_eq!(
        check(SDIST_NAME, &sdist_of_blocks(&raw)).unwrap_err(),
        UploadError::FileNamedLikeDirectory {
            name: shown("demo-1.0/sub")
        }
    );
    let mut raw = header_block("././@LongLink", b'L', 13, "");
    raw.extend(blocks(b"demo-1.0/sub\0"));
    raw.extend(header_block("demo-1.0/sub/", 0, 1536, ""));
    raw.extend(hidden_members());
    assert_eq!(
        check(SDIST_NAME, &sdist_of_blocks(&raw)).unwrap_err(),
        UploadError::FileNamedLikeDirectory {
            name: shown("demo-1.0/sub")
        }
    );
}

#[test]
fn names_differing_only_in_unicode_normalization_are_refused() {
    // macOS file systems take `ü` (NFC) and `u` + U+0308 (NFD) for one
    // name: this `PKG-INFO` would land on the checked one through the link.
    let evil = b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n";
    let bytes = sdist_with(&[
        symlink("demo-1.0/\u{fc}", "."),
        file("demo-1.0/u\u{308}/PKG-INFO", evil),
    ]);
    assert_eq!(
        check(SDIST_NAME, &bytes).unwrap_err(),
        UploadError::CaseClash {
            first: shown("demo-1.0/\u{fc}"),
            second: shown("demo-1.0/u\u{308}/PKG-INFO"),
        }
    );
    let wheel = wheel_with(&[("demo/caf\u{e9}.py", b"a"), ("demo/cafe\u{301}.py", b"b")]);
    assert_eq!(
        check(WHEEL_NAME, &wheel).unwrap_err(),
        UploadError::CaseClash {
            first: shown("demo/caf\u{e9}.py"),
            second: shown("demo/cafe\u{301}.py"),
        }
    );
    // Case and normalization together.
    let wheel = wheel_with(&[("demo/\u{dc}.py", b"a"), ("demo/u\u{308}.py", b"b")]);
    assert!(matches!(
        check(WHEEL_NAME, &wheel).unwrap_err(),
        UploadError::CaseClash { .. }
    ));
}

#[test]
fn names_that_windows_strips_are_refused() {
    // Windows drops a trailing `.` or space: `PKG-INFO.` is `PKG-INFO`.
    let evil = b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n";
    for name in ["demo-1.0/PKG-INFO.", "demo-1.0/PKG-INFO ", "demo-1.0/d./x"] {
        let bytes = sdist_with(&[file(name, evil)]);
        assert_eq!(
            check(SDIST_NAME, &bytes).unwrap_err(),
            UploadError::UnsafePath {
                name: shown(name),
                problem: PathProblem::TrailingDotOrSpace,
            },
            "{name:?}"
        );
    }
    let wheel = wheel_with(&[("demo/x.py.", b"")]);
    assert!(matches!(
        check(WHEEL_NAME, &wheel).unwrap_err(),
        UploadError::UnsafePath {
            problem: PathProblem::TrailingDotOrSpace,
            ..
        }
    ));
}
