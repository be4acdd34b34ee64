use crate::common::*;
use crossrank_tokenizer::{ErrorKind, PairTokenizer, Truncation};
use serde_json::json;

const SAMPLES: &[(&str, &str)] = &[
    ("hello world", "the café"),
    ("Hello CAFÉ naïve", "Café, naive!"),
    ("tokens runing", "xyy qx"),
    ("你好 hello你", "好!"),
    ("emoji 🤖 text", "\u{0}x\u{7}y\u{200b}"),
    ("[CLS] [SEP] [MASK] [PAD]", "[cls] [unk] [ mask ]"),
    ("", ""),
    ("   \t\n", "\u{fffd}x\u{fffd}"),
    ("unknownword hello", "antidisestablishmentarianism"),
];

#[test]
fn vocab_txt_matches_equivalent_tokenizer_json() {
    let json = json_dir(&tokenizer_json(true, None));
    let from_json = PairTokenizer::from_dir(json.path()).unwrap();
    let from_vocab = uncased();
    assert_eq!(from_json.source(), "tokenizer.json");
    assert_eq!(from_vocab.source(), "vocab.txt");
    for (a, b) in SAMPLES {
        for max_length in [4, 5, 7, 512] {
            for truncation in [Truncation::LongestFirst, Truncation::OnlySecond] {
                let expected = from_json.encode_pairs(&[a], &[b], max_length, truncation);
                let got = from_vocab.encode_pairs(&[a], &[b], max_length, truncation);
                assert_eq!(
                    got, expected,
                    "{a:?} / {b:?} maxLength {max_length} {truncation:?}"
                );
            }
        }
    }
}

#[test]
fn cased_vocab_txt_matches_cased_tokenizer_json() {
    let json = json_dir(&tokenizer_json(false, None));
    let from_json = PairTokenizer::from_dir(json.path()).unwrap();
    let from_vocab = tiny(Some(json!({"do_lower_case": false})));
    for (a, b) in SAMPLES {
        assert_eq!(
            ids_of(&from_vocab, a, b),
            ids_of(&from_json, a, b),
            "{a:?} / {b:?}"
        );
    }
}

#[test]
fn tokenizer_json_padding_and_stored_truncation_are_ignored() {
    let json = json_dir(&tokenizer_json(true, None));
    let t = PairTokenizer::from_dir(json.path()).unwrap();
    // The file says pad to 16 and truncate to 8 with OnlyFirst.
    let first = "hello ".repeat(20);
    let (ids, _) = pair(&t, &first, "world", 512, Truncation::LongestFirst);
    assert_eq!(ids.len(), 20 + 1 + 3);
    assert_eq!(
        pair(&t, "q", "", 512, Truncation::LongestFirst).0,
        vec![CLS, id("q"), SEP, SEP]
    );
}

#[test]
fn tokenizer_json_is_preferred_and_config_gives_model_max_length() {
    let dir = vocab_dir(Some(json!({"model_max_length": 256})));
    std::fs::write(
        dir.path().join("tokenizer.json"),
        tokenizer_json(true, None).to_string(),
    )
    .unwrap();
    let t = PairTokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(t.source(), "tokenizer.json");
    assert_eq!(t.model_max_length(), Some(256));
}

#[test]
fn model_max_length_absent_or_sentinel_is_none() {
    assert_eq!(tiny(None).model_max_length(), None);
    assert_eq!(
        tiny(Some(json!({"model_max_length": 1e30}))).model_max_length(),
        None
    );
    assert_eq!(uncased().model_max_length(), Some(512));
}

#[test]
fn custom_special_tokens_come_from_config() {
    let t = tiny(Some(
        json!({"cls_token": "x", "sep_token": {"content": "y", "__type": "AddedToken"}, "unk_token": "q"}),
    ));
    assert_eq!(
        ids_of(&t, "hello", "zzz"),
        vec![id("x"), id("hello"), id("y"), id("q"), id("y")]
    );
}

#[test]
fn added_tokens_decoder_is_honoured_and_checked() {
    let t = tiny(Some(json!({"added_tokens_decoder": {
        "4": {"content": "[MASK]", "lstrip": true, "rstrip": false, "normalized": false, "single_word": false, "special": true}
    }})));
    assert_eq!(ids_of(&t, "hello [MASK]", "")[..3], [CLS, id("hello"), MASK]);
    let dir = vocab_dir(Some(
        json!({"added_tokens_decoder": {"7": {"content": "[MASK]", "special": true}}}),
    ));
    let err = PairTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(
        err.message
            .starts_with(&dir.path().join("tokenizer_config.json").display().to_string()),
        "{err}"
    );
}

#[test]
fn missing_folder_names_both_paths() {
    let dir = tempfile::TempDir::new().unwrap();
    let err = PairTokenizer::from_dir(dir.path()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Load);
    assert!(
        err.message
            .contains(&dir.path().join("tokenizer.json").display().to_string()),
        "{err}"
    );
    assert!(
        err.message
            .contains(&dir.path().join("vocab.txt").display().to_string()),
        "{err}"
    );
}

#[test]
fn malformed_files_give_errors_starting_with_their_path() {
    let dir = tempfile::TempDir::new().unwrap();
    let json_path = dir.path().join("tokenizer.json");
    std::fs::write(&json_path, "{\"version\": ").unwrap();
    let err = PairTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(err.message.starts_with(&json_path.display().to_string()), "{err}");

    let dir = vocab_dir(Some(json!({"do_lower_case": "yes"})));
    let err = PairTokenizer::from_dir(dir.path()).unwrap_err();
    let config_path = dir.path().join("tokenizer_config.json");
    assert!(
        err.message.starts_with(&config_path.display().to_string()),
        "{err}"
    );
    assert!(err.message.contains("do_lower_case"), "{err}");

    std::fs::write(&config_path, "not json").unwrap();
    let err = PairTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(
        err.message.starts_with(&config_path.display().to_string()),
        "{err}"
    );
}

#[test]
fn vocab_without_special_tokens_is_rejected() {
    let dir = tempfile::TempDir::new().unwrap();
    let vocab_path = dir.path().join("vocab.txt");
    std::fs::write(&vocab_path, "[UNK]\n[CLS]\nhello\n").unwrap();
    let err = PairTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(
        err.message.starts_with(&vocab_path.display().to_string()),
        "{err}"
    );
    assert!(err.message.contains("[SEP]"), "{err}");

    std::fs::write(&vocab_path, "").unwrap();
    assert!(PairTokenizer::from_dir(dir.path()).is_err());
    std::fs::write(&vocab_path, b"[UNK]\n\xff\xfe\n").unwrap();
    let err = PairTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(
        err.message.starts_with(&vocab_path.display().to_string()),
        "{err}"
    );
}

/// Texts that exercise every stage of the BERT pipeline on a real 30522-token vocab.
fn real_corpus() -> Vec<String> {
    let mut texts: Vec<String> = [
        "what is a cross encoder",
        "It reads BOTH texts together, so it's more accurate than a bi-encoder.",
        "Crème brûlée, naïve café, Ångström, São Paulo, Zürich, Dvořák",
        "東京タワーは高い 北京大学 한국어 텍스트 ภาษาไทย",
        "emoji 🤖🚀 👍🏽 👨‍👩‍👧 flags 🇫🇷",
        "control\u{0}\u{7}\u{1b} chars\u{200b}zero\u{feff}width\u{fffd}replacement",
        "   \t\n  ",
        "",
        "[CLS] literal [SEP] [MASK] [PAD] [UNK] [unused3]",
        "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
        "Ελληνικά κείμενα και Русский текст, العربية, עברית",
        "numbers 3.14159 1,000,000 2024-01-01 $5 @user #tag http://example.com/a?b=c",
        "ﬁ ligature, ＦＵＬＬＷＩＤＴＨ, Ⅻ, ①, x², H₂O",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    texts.push("word ".repeat(300));
    texts.push("a".repeat(150));
    texts
}

#[test]
fn real_model_vocab_txt_matches_tokenizer_json() {
    let Some(dir) = real_model_dir() else { return };
    let from_json = PairTokenizer::from_dir(&dir).unwrap();
    assert_eq!(from_json.source(), "tokenizer.json");
    let vocab_only = tempfile::TempDir::new().unwrap();
    for file in ["vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(dir.join(file), vocab_only.path().join(file)).unwrap();
    }
    let from_vocab = PairTokenizer::from_dir(vocab_only.path()).unwrap();
    assert_eq!(from_vocab.source(), "vocab.txt");
    assert_eq!(from_vocab.model_max_length(), from_json.model_max_length());

    let texts = real_corpus();
    let (firsts, seconds): (Vec<&String>, Vec<&String>) = texts
        .iter()
        .flat_map(|a| texts.iter().map(move |b| (a, b)))
        .unzip();
    let firsts: Vec<&str> = firsts.into_iter().map(String::as_str).collect();
    let seconds: Vec<&str> = seconds.into_iter().map(String::as_str).collect();
    for max_length in [16, 64, 512] {
        let expected = from_json
            .encode_pairs(&firsts, &seconds, max_length, Truncation::LongestFirst)
            .unwrap();
        let got = from_vocab
            .encode_pairs(&firsts, &seconds, max_length, Truncation::LongestFirst)
            .unwrap();
        assert_eq!(got, expected, "maxLength {max_length}");
    }
    // Known ids (bert-base-uncased vocab), as Hugging Face's tokenizers gives them.
    let out = from_vocab
        .encode_pairs(
            &["what is a cross encoder"],
            &["it reads both texts"],
            512,
            Truncation::LongestFirst,
        )
        .unwrap();
    assert_eq!(
        out.ids,
        vec![101, 2054, 2003, 1037, 2892, 4372, 16044, 2099, 102, 2009, 9631, 2119, 6981, 102]
    );
}

#[test]
fn committed_tiny_fixture_loads_if_present() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/fixtures/tiny");
    if !dir.join("vocab.txt").is_file() {
        eprintln!("NOTICE: {} not present; skipping", dir.display());
        return;
    }
    let t = PairTokenizer::from_dir(&dir).unwrap();
    let out = t
        .encode_pairs(
            &["what is a cross encoder"],
            &["it reads both texts"],
            512,
            Truncation::LongestFirst,
        )
        .unwrap();
    assert_eq!(
        out.ids,
        vec![101, 2054, 2003, 1037, 2892, 4372, 16044, 2099, 102, 2009, 9631, 2119, 6981, 102]
    );
}
