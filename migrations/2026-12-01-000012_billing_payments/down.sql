DROP TABLE billing.payments;
