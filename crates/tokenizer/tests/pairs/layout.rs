use crate::common::*;
use crossrank_tokenizer::{ErrorKind, Truncation};
use proptest::prelude::*;

#[test]
fn several_pairs_are_laid_out_back_to_back() {
    let t = uncased();
    let out = t
        .encode_pairs(
            &["hello", "", "the world", "q"],
            &["world", "a", "", "hello hello"],
            512,
            Truncation::LongestFirst,
        )
        .unwrap();
    assert_eq!(out.lengths, vec![5, 4, 5, 6]);
    let h = id("hello");
    let w = id("world");
    assert_eq!(
        out.ids,
        [
            vec![CLS, h, SEP, w, SEP],
            vec![CLS, SEP, id("a"), SEP],
            vec![CLS, id("the"), w, SEP, SEP],
            vec![CLS, id("q"), SEP, h, h, SEP],
        ]
        .concat()
    );
    assert_eq!(
        out.type_ids,
        [
            vec![0, 0, 0, 1, 1],
            vec![0, 0, 1, 1],
            vec![0, 0, 0, 0, 1],
            vec![0, 0, 0, 1, 1, 1]
        ]
        .concat()
    );
}

#[test]
fn no_pairs_give_empty_arrays() {
    let empty: [&str; 0] = [];
    let out = uncased()
        .encode_pairs(&empty, &empty, 512, Truncation::LongestFirst)
        .unwrap();
    assert!(out.ids.is_empty() && out.type_ids.is_empty() && out.lengths.is_empty());
}

#[test]
fn mismatched_lengths_are_rejected() {
    let err = uncased()
        .encode_pairs(&["a", "b"], &["c"], 512, Truncation::LongestFirst)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(err.message.contains('2') && err.message.contains('1'), "{err}");
}

#[test]
fn batch_equals_one_by_one() {
    let t = uncased();
    let firsts: Vec<String> = (0..64)
        .map(|i| "hello ".repeat(i % 13) + &"world ".repeat(i % 5))
        .collect();
    let seconds: Vec<String> = (0..64).map(|i| "你好 café ".repeat(i % 7)).collect();
    let batch = t
        .encode_pairs(&firsts, &seconds, 16, Truncation::LongestFirst)
        .unwrap();
    for (i, (ids, types)) in batch.pairs().enumerate() {
        let (one_ids, one_types) = pair(&t, &firsts[i], &seconds[i], 16, Truncation::LongestFirst);
        assert_eq!((ids, types), (&one_ids[..], &one_types[..]), "pair {i}");
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just("hello"),
                Just("Café"),
                Just("你"),
                Just(" "),
                Just("[SEP]"),
                Just("\u{fffd}"),
                Just("😀"),
                Just("x")
            ],
            0..80
        )
        .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn pair_invariants(a in text(), b in text(), max_length in 4usize..64) {
        let t = uncased();
        let out = t.encode_pairs(&[&a], &[&b], max_length, Truncation::LongestFirst).unwrap();
        let (ids, types) = out.pairs().next().unwrap();
        prop_assert!(ids.len() <= max_length);
        prop_assert_eq!(ids[0], CLS);
        prop_assert_eq!(*ids.last().unwrap(), SEP);
        // A literal "[SEP]" in the text is the [SEP] token too, so find the template's first SEP
        // through the type ids: [CLS] a [SEP] have type 0, b [SEP] type 1.
        let zeros = types.iter().take_while(|&&ty| ty == 0).count();
        prop_assert!(zeros >= 2);
        prop_assert!(types[zeros..].iter().all(|&ty| ty == 1));
        prop_assert_eq!(ids[zeros - 1], SEP);
        prop_assert!(!ids[1..].contains(&CLS) || a.contains("[CLS]") || b.contains("[CLS]"));

        match t.encode_pairs(&[&a], &[&b], max_length, Truncation::OnlySecond) {
            Ok(only_second) => {
                let full = t.encode_pairs(&[a.as_str()], &[""], 100_000, Truncation::LongestFirst).unwrap();
                let first_len = full.lengths[0] as usize - 3;
                prop_assert!(only_second.lengths[0] as usize <= max_length);
                prop_assert_eq!(&only_second.ids[..first_len + 2], &full.ids[..first_len + 2]);
            }
            Err(err) => prop_assert!(err.message.contains("pair 0") && err.message.contains("longest_first")),
        }
    }
}

/// The text tokens of each side of an encoded pair, split where the type ids turn from 0 to 1:
/// `[CLS] a [SEP]` have type 0 and `b [SEP]` type 1.
fn sides(ids: &[u32], types: &[u8]) -> (Vec<u32>, Vec<u32>) {
    let zeros = types.iter().take_while(|&&ty| ty == 0).count();
    (ids[1..zeros - 1].to_vec(), ids[zeros..ids.len() - 1].to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Truncation keeps a prefix of each side, fills the budget exactly, and splits it as
    /// Hugging Face does: `longest_first` never cuts a side below half the budget while the other
    /// side has more, `only_second` never cuts the first side.
    #[test]
    fn truncation_keeps_prefixes_and_fills_the_budget(
        a in text(),
        b in text(),
        max_length in prop_oneof![4usize..16, 16usize..80, Just(512usize)],
    ) {
        let t = uncased();
        let untruncated = |a: &str, b: &str| {
            let (ids, types) = pair(&t, a, b, 100_000, Truncation::LongestFirst);
            sides(&ids, &types)
        };
        let (full_a, _) = untruncated(&a, "");
        let (_, full_b) = untruncated("", &b);
        let budget = max_length - 3;
        let expected_total = (full_a.len() + full_b.len()).min(budget);

        let (ids, types) = pair(&t, &a, &b, max_length, Truncation::LongestFirst);
        let (kept_a, kept_b) = sides(&ids, &types);
        prop_assert_eq!(&full_a[..kept_a.len()], &kept_a[..]);
        prop_assert_eq!(&full_b[..kept_b.len()], &kept_b[..]);
        prop_assert_eq!(kept_a.len() + kept_b.len(), expected_total);
        prop_assert!(kept_a.len() >= full_a.len().min(budget / 2), "first cut to {} of {}", kept_a.len(), full_a.len());
        prop_assert!(kept_b.len() >= full_b.len().min(budget / 2), "second cut to {} of {}", kept_b.len(), full_b.len());

        if full_a.len() < budget {
            let (ids, types) = pair(&t, &a, &b, max_length, Truncation::OnlySecond);
            let (kept_a, kept_b) = sides(&ids, &types);
            prop_assert_eq!(&kept_a, &full_a);
            prop_assert_eq!(&full_b[..kept_b.len()], &kept_b[..]);
            prop_assert_eq!(kept_a.len() + kept_b.len(), expected_total);
        }
    }
}
