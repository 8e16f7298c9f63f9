DROP TABLE policy.entitlement_settings;
