//! How many units each buyer asks for: a fixed count or a range, parsed
//! from `--quantities` (`2`, `1..3`, `1..=3`).

use std::str::FromStr;

/// Units per purchase: a fixed count (`2`) or a range (`1..3`, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantities {
    /// Fewest units.
    pub min: i32,
    /// Most units.
    pub max: i32,
}

impl FromStr for Quantities {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse = |part: &str| {
            part.trim()
                .parse::<i32>()
                .map_err(|_| format!("`{text}` is not a count or a range like 1..3"))
        };
        let (min, max) = match text.split_once("..") {
            Some((min, max)) => (parse(min)?, parse(max.trim_start_matches('='))?),
            None => (parse(text)?, parse(text)?),
        };
        if !(1..=crate::orders::MAX_COUNT).contains(&min)
            || max < min
            || max > crate::orders::MAX_COUNT
        {
            return Err(format!(
                "quantities must lie within 1..{}",
                crate::orders::MAX_COUNT
            ));
        }
        Ok(Self { min, max })
    }
}

impl std::fmt::Display for Quantities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Quantities;

    #[test]
    fn quantities_parse_counts_and_ranges() {
        assert_eq!(
            "2".parse::<Quantities>().unwrap(),
            Quantities { min: 2, max: 2 }
        );
        assert_eq!(
            "1..3".parse::<Quantities>().unwrap(),
            Quantities { min: 1, max: 3 }
        );
        assert_eq!(
            "1..=3".parse::<Quantities>().unwrap(),
            Quantities { min: 1, max: 3 }
        );
        assert!("0".parse::<Quantities>().is_err());
        assert!("3..1".parse::<Quantities>().is_err());
        assert!("1..11".parse::<Quantities>().is_err());
        assert!("x".parse::<Quantities>().is_err());
    }
}
