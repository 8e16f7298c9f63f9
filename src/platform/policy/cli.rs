//! `aicloud policy ...`.
