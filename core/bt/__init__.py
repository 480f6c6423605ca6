"""The beleidsteam (BT): compositions, convening and calling out, attendance, the
aandachtskaart, decisions and the incident's logbook."""
