from django.urls import path

from webhooks import apis

# Endpoint ids take the `poll_id` converter (polls/urls.py): digits within a bigint.
urlpatterns = [
    path("webhooks", apis.EndpointListApi.as_view(), name="webhook-list"),
    path("webhooks/<poll_id:endpoint_id>", apis.EndpointDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<poll_id:endpoint_id>/deliveries",
        apis.DeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
]
