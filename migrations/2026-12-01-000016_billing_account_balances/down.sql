DROP TABLE billing.account_balances;
