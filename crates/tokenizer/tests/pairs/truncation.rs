use crate::common::*;
use crossrank_tokenizer::{ErrorKind, Truncation};

fn words(word: &str, n: usize) -> String {
    vec![word; n].join(" ")
}

/// (first tokens kept, second tokens kept) for a pair of n_first "hello"s and n_second "world"s.
fn kept(n_first: usize, n_second: usize, max_length: usize, truncation: Truncation) -> (usize, usize) {
    let t = uncased();
    let (ids, types) = pair(
        &t,
        &words("hello", n_first),
        &words("world", n_second),
        max_length,
        truncation,
    );
    let first = ids.iter().filter(|&&i| i == id("hello")).count();
    let second = ids.iter().filter(|&&i| i == id("world")).count();
    // Layout: [CLS] hello* [SEP] world* [SEP], type ids 0 then 1.
    let mut expected = vec![CLS];
    expected.extend(vec![id("hello"); first]);
    expected.push(SEP);
    expected.extend(vec![id("world"); second]);
    expected.push(SEP);
    assert_eq!(ids, expected);
    assert_eq!(types, [vec![0; first + 2], vec![1; second + 1]].concat());
    (first, second)
}

#[test]
fn longest_first_trims_the_longer_second() {
    assert_eq!(kept(10, 100, 32, Truncation::LongestFirst), (10, 19));
}

#[test]
fn longest_first_trims_the_longer_first() {
    assert_eq!(kept(100, 10, 32, Truncation::LongestFirst), (19, 10));
}

#[test]
fn longest_first_equal_lengths_give_the_odd_token_to_the_second() {
    // 29 tokens of budget for 50 + 50: tokenizers keeps 14 + 15.
    assert_eq!(kept(50, 50, 32, Truncation::LongestFirst), (14, 15));
    assert_eq!(kept(50, 50, 33, Truncation::LongestFirst), (15, 15));
}

#[test]
fn longest_first_both_long_and_unequal() {
    assert_eq!(kept(40, 100, 32, Truncation::LongestFirst), (14, 15));
    assert_eq!(kept(100, 40, 32, Truncation::LongestFirst), (15, 14));
    assert_eq!(kept(16, 20, 32, Truncation::LongestFirst), (14, 15));
}

#[test]
fn no_truncation_when_it_fits() {
    assert_eq!(kept(10, 19, 32, Truncation::LongestFirst), (10, 19));
    assert_eq!(kept(10, 19, 32, Truncation::OnlySecond), (10, 19));
}

#[test]
fn smallest_max_length() {
    assert_eq!(kept(5, 5, 4, Truncation::LongestFirst), (0, 1));
    assert_eq!(kept(0, 5, 4, Truncation::OnlySecond), (0, 1));
}

#[test]
fn only_second_keeps_the_first_whole() {
    assert_eq!(kept(20, 100, 32, Truncation::OnlySecond), (20, 9));
    assert_eq!(kept(28, 100, 32, Truncation::OnlySecond), (28, 1));
}

#[test]
fn only_second_with_too_long_first_names_the_pair_and_suggests_longest_first() {
    let t = uncased();
    let firsts = ["hello".to_string(), words("hello", 40)];
    let seconds = ["world".to_string(), words("world", 5)];
    let err = t
        .encode_pairs(&firsts, &seconds, 32, Truncation::OnlySecond)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Encode);
    assert!(err.message.contains("pair 1"), "{err}");
    assert!(err.message.contains("longest_first"), "{err}");
    // As in Hugging Face, emptying the second text entirely is also refused.
    let err = t
        .encode_pairs(
            &[words("hello", 29)],
            &[words("world", 5)],
            32,
            Truncation::OnlySecond,
        )
        .unwrap_err();
    assert!(err.message.contains("pair 0"), "{err}");
    // ... but an empty second text that needs no cut is fine.
    assert_eq!(kept(29, 0, 32, Truncation::OnlySecond), (29, 0));
}

#[test]
fn max_length_below_four_is_rejected() {
    let t = uncased();
    for max_length in [0, 1, 3] {
        let err = t
            .encode_pairs(&["a"], &["b"], max_length, Truncation::LongestFirst)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(err.message.contains("maxLength"), "{err}");
    }
}

#[test]
fn max_length_from_js_numbers() {
    use crossrank_tokenizer::max_length_from_number as parse;
    assert_eq!(parse(4.0).unwrap(), 4);
    assert_eq!(parse(512.0).unwrap(), 512);
    for bad in [3.0, -1.0, 4.5, f64::NAN, f64::INFINITY, 1e12] {
        let err = parse(bad).unwrap_err();
        assert!(err.message.contains("maxLength"), "{bad}: {err}");
    }
}

#[test]
fn truncation_names() {
    assert_eq!(
        Truncation::parse("longest_first").unwrap(),
        Truncation::LongestFirst
    );
    assert_eq!(Truncation::parse("only_second").unwrap(), Truncation::OnlySecond);
    assert!(Truncation::parse("only_first")
        .unwrap_err()
        .message
        .contains("longest_first"));
}

#[test]
fn one_megabyte_strings_are_truncated_quickly() {
    let t = uncased();
    let big_words = "hello world ".repeat(131_072); // 1.5 MB of words
    let big_blob = "x".repeat(1 << 20); // one 1 MB "word": [UNK]
    let start = std::time::Instant::now();
    let out = t
        .encode_pairs(
            &[&big_words, "q", &big_blob],
            &[&big_blob, &big_words, &big_words],
            512,
            Truncation::LongestFirst,
        )
        .unwrap();
    assert_eq!(out.lengths, vec![512, 512, 512]);
    let out_only_second = t
        .encode_pairs(&["q"], &[&big_words], 512, Truncation::OnlySecond)
        .unwrap();
    assert_eq!(out_only_second.lengths, vec![512]);
    let pairs: Vec<_> = out.pairs().collect();
    assert_eq!(pairs[0].0[..4], [CLS, id("hello"), id("world"), id("hello")]);
    assert_eq!(pairs[0].0[509..], [SEP, UNK, SEP]);
    let elapsed = start.elapsed();
    eprintln!("1 MB pairs took {elapsed:?}");
    assert!(elapsed.as_secs() < 20, "took {elapsed:?}");
}
