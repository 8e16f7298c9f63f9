//! Products built on the platform. Each consumes the platform's services through their
//! traits, as its onboarding packet declares, and owns only what is its own (Token
//! Factory: the gateway, its model catalog and analytics, in schema `token_factory`).

pub mod token_factory;
