def test_it_answers_healthz(client):
    assert client.get("/healthz").status_code == 200
