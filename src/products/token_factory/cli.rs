//! `aicloud tf`: the model catalog from the command line (`model add|list|show|enable|
//! disable`, `endpoint add|remove`), as the console caller, audited like the API.
